-- AlterTable
ALTER TABLE "FileServer" ADD COLUMN     "sharesRefreshedAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "Fsvm" ADD COLUMN     "lastError" TEXT;

-- AlterTable
ALTER TABLE "Operation" ADD COLUMN     "input" JSONB;

-- CreateIndex
CREATE INDEX "Job_sourceFileServer_share_startedAt_idx" ON "Job"("sourceFileServer", "share", "startedAt" DESC);

-- CreateIndex
CREATE INDEX "Job_endedAt_idx" ON "Job"("endedAt");

-- CreateIndex
CREATE INDEX "Operation_sourceFileServer_destFileServer_state_idx" ON "Operation"("sourceFileServer", "destFileServer", "state");

-- CreateIndex
CREATE INDEX "Operation_policyId_createdAt_idx" ON "Operation"("policyId", "createdAt" DESC);

