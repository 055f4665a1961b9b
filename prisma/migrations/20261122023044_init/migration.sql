-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "FileServerStatus" AS ENUM ('active', 'standby', 'failed');

-- CreateEnum
CREATE TYPE "FsvmHealth" AS ENUM ('unknown', 'healthy', 'degraded', 'down');

-- CreateEnum
CREATE TYPE "ShareKind" AS ENUM ('standard', 'distributed');

-- CreateEnum
CREATE TYPE "AccessMode" AS ENUM ('read_write', 'read_only', 'off');

-- CreateEnum
CREATE TYPE "PolicyStatus" AS ENUM ('creating', 'active', 'failed', 'deleting', 'disabled');

-- CreateEnum
CREATE TYPE "JobState" AS ENUM ('pending', 'running', 'succeeded', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "JobKind" AS ENUM ('scheduled', 'on_demand', 'final_delta', 'reverse');

-- CreateEnum
CREATE TYPE "OperationKind" AS ENUM ('planned_failover', 'unplanned_failover', 'resume_replication', 'failback', 'dr_readiness', 'policy_create', 'policy_update', 'policy_delete');

-- CreateEnum
CREATE TYPE "OperationState" AS ENUM ('pending', 'running', 'succeeded', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "Role" AS ENUM ('viewer', 'operator', 'admin');

-- CreateTable
CREATE TABLE "FileServer" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "site" TEXT NOT NULL,
    "dnsName" TEXT NOT NULL,
    "addresses" TEXT[],
    "adComputerAccount" TEXT,
    "adCredentialsEnc" TEXT,
    "status" "FileServerStatus" NOT NULL DEFAULT 'active',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "FileServer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Fsvm" (
    "id" UUID NOT NULL,
    "fileServerId" UUID NOT NULL,
    "nodeId" TEXT NOT NULL,
    "gatewayUrl" TEXT NOT NULL,
    "gatewayTokenEnc" TEXT NOT NULL,
    "health" "FsvmHealth" NOT NULL DEFAULT 'unknown',
    "lastSeenAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Fsvm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Share" (
    "id" UUID NOT NULL,
    "fileServerId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "kind" "ShareKind" NOT NULL DEFAULT 'standard',
    "accessMode" "AccessMode" NOT NULL DEFAULT 'read_write',
    "portions" JSONB NOT NULL DEFAULT '{}',
    "sizeBytes" BIGINT,
    "refreshedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Share_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReplicationPolicy" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "sourceFileServerId" UUID NOT NULL,
    "destFileServerId" UUID NOT NULL,
    "rpoSeconds" INTEGER NOT NULL,
    "retentionCount" INTEGER NOT NULL DEFAULT 3,
    "status" "PolicyStatus" NOT NULL DEFAULT 'creating',
    "statusReason" TEXT,
    "version" INTEGER NOT NULL DEFAULT 1,
    "previousVersion" JSONB,
    "workflowId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ReplicationPolicy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PolicyShare" (
    "id" UUID NOT NULL,
    "policyId" UUID NOT NULL,
    "sourceShare" TEXT NOT NULL,
    "targetShare" TEXT NOT NULL,
    "targetCreated" BOOLEAN NOT NULL DEFAULT false,
    "scheduleId" TEXT,
    "lastCompleteSnapshotSetId" TEXT,
    "lastCompleteAt" TIMESTAMP(3),

    CONSTRAINT "PolicyShare_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DatasetMapEntry" (
    "id" UUID NOT NULL,
    "policyShareId" UUID NOT NULL,
    "portion" TEXT NOT NULL,
    "sourceNodeId" TEXT NOT NULL,
    "destNodeId" TEXT NOT NULL,
    "reverse" BOOLEAN NOT NULL DEFAULT false,
    "inUse" BOOLEAN NOT NULL DEFAULT true,

    CONSTRAINT "DatasetMapEntry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SnapshotSet" (
    "id" TEXT NOT NULL,
    "fileServerId" UUID NOT NULL,
    "share" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3),
    "complete" BOOLEAN NOT NULL DEFAULT false,
    "portions" JSONB NOT NULL DEFAULT '[]',

    CONSTRAINT "SnapshotSet_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" UUID NOT NULL,
    "policyId" UUID,
    "kind" "JobKind" NOT NULL DEFAULT 'scheduled',
    "state" "JobState" NOT NULL DEFAULT 'pending',
    "share" TEXT NOT NULL,
    "targetShare" TEXT NOT NULL,
    "sourceFileServer" TEXT NOT NULL,
    "destFileServer" TEXT NOT NULL,
    "snapshotSetId" TEXT,
    "incremental" BOOLEAN NOT NULL DEFAULT false,
    "baseSnapshotId" TEXT,
    "bytesTotal" BIGINT NOT NULL DEFAULT 0,
    "bytesSynced" BIGINT NOT NULL DEFAULT 0,
    "percent" INTEGER NOT NULL DEFAULT 0,
    "throughputBps" BIGINT,
    "rpoCompliant" BOOLEAN,
    "error" TEXT,
    "workflowId" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SubJob" (
    "id" UUID NOT NULL,
    "jobId" UUID NOT NULL,
    "portion" TEXT NOT NULL,
    "sourceNodeId" TEXT NOT NULL,
    "destNodeId" TEXT NOT NULL,
    "state" "JobState" NOT NULL DEFAULT 'pending',
    "bytesTotal" BIGINT NOT NULL DEFAULT 0,
    "bytesSynced" BIGINT NOT NULL DEFAULT 0,
    "throughputBps" BIGINT,
    "error" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "SubJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Operation" (
    "id" UUID NOT NULL,
    "kind" "OperationKind" NOT NULL,
    "state" "OperationState" NOT NULL DEFAULT 'pending',
    "sourceFileServer" TEXT,
    "destFileServer" TEXT,
    "policyId" UUID,
    "steps" JSONB NOT NULL DEFAULT '[]',
    "workflowId" TEXT NOT NULL,
    "requestedBy" TEXT,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Operation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "role" "Role" NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditEntry" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "target" TEXT,
    "result" TEXT NOT NULL,
    "detail" JSONB,

    CONSTRAINT "AuditEntry_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "FileServer_name_key" ON "FileServer"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Fsvm_fileServerId_nodeId_key" ON "Fsvm"("fileServerId", "nodeId");

-- CreateIndex
CREATE UNIQUE INDEX "Share_fileServerId_name_key" ON "Share"("fileServerId", "name");

-- CreateIndex
CREATE UNIQUE INDEX "ReplicationPolicy_name_key" ON "ReplicationPolicy"("name");

-- CreateIndex
CREATE INDEX "ReplicationPolicy_sourceFileServerId_idx" ON "ReplicationPolicy"("sourceFileServerId");

-- CreateIndex
CREATE INDEX "ReplicationPolicy_destFileServerId_idx" ON "ReplicationPolicy"("destFileServerId");

-- CreateIndex
CREATE UNIQUE INDEX "PolicyShare_policyId_sourceShare_key" ON "PolicyShare"("policyId", "sourceShare");

-- CreateIndex
CREATE UNIQUE INDEX "DatasetMapEntry_policyShareId_portion_reverse_key" ON "DatasetMapEntry"("policyShareId", "portion", "reverse");

-- CreateIndex
CREATE INDEX "SnapshotSet_fileServerId_share_createdAt_idx" ON "SnapshotSet"("fileServerId", "share", "createdAt");

-- CreateIndex
CREATE INDEX "Job_startedAt_id_idx" ON "Job"("startedAt" DESC, "id");

-- CreateIndex
CREATE INDEX "Job_state_startedAt_idx" ON "Job"("state", "startedAt" DESC);

-- CreateIndex
CREATE INDEX "Job_policyId_startedAt_idx" ON "Job"("policyId", "startedAt" DESC);

-- CreateIndex
CREATE INDEX "Job_share_startedAt_idx" ON "Job"("share", "startedAt" DESC);

-- CreateIndex
CREATE INDEX "Job_sourceFileServer_startedAt_idx" ON "Job"("sourceFileServer", "startedAt" DESC);

-- CreateIndex
CREATE INDEX "Job_destFileServer_startedAt_idx" ON "Job"("destFileServer", "startedAt" DESC);

-- CreateIndex
CREATE INDEX "SubJob_jobId_idx" ON "SubJob"("jobId");

-- CreateIndex
CREATE INDEX "Operation_createdAt_idx" ON "Operation"("createdAt" DESC);

-- CreateIndex
CREATE INDEX "Operation_state_idx" ON "Operation"("state");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_name_key" ON "ApiToken"("name");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_tokenHash_key" ON "ApiToken"("tokenHash");

-- CreateIndex
CREATE INDEX "AuditEntry_at_idx" ON "AuditEntry"("at" DESC);

-- AddForeignKey
ALTER TABLE "Fsvm" ADD CONSTRAINT "Fsvm_fileServerId_fkey" FOREIGN KEY ("fileServerId") REFERENCES "FileServer"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Share" ADD CONSTRAINT "Share_fileServerId_fkey" FOREIGN KEY ("fileServerId") REFERENCES "FileServer"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ReplicationPolicy" ADD CONSTRAINT "ReplicationPolicy_sourceFileServerId_fkey" FOREIGN KEY ("sourceFileServerId") REFERENCES "FileServer"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ReplicationPolicy" ADD CONSTRAINT "ReplicationPolicy_destFileServerId_fkey" FOREIGN KEY ("destFileServerId") REFERENCES "FileServer"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PolicyShare" ADD CONSTRAINT "PolicyShare_policyId_fkey" FOREIGN KEY ("policyId") REFERENCES "ReplicationPolicy"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "DatasetMapEntry" ADD CONSTRAINT "DatasetMapEntry_policyShareId_fkey" FOREIGN KEY ("policyShareId") REFERENCES "PolicyShare"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Job" ADD CONSTRAINT "Job_policyId_fkey" FOREIGN KEY ("policyId") REFERENCES "ReplicationPolicy"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SubJob" ADD CONSTRAINT "SubJob_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

