-- DropIndex
DROP INDEX "Job_startedAt_id_idx";

-- DropIndex
DROP INDEX "Job_state_startedAt_idx";

-- DropIndex
DROP INDEX "Job_policyId_startedAt_idx";

-- DropIndex
DROP INDEX "Job_share_startedAt_idx";

-- DropIndex
DROP INDEX "Job_sourceFileServer_startedAt_idx";

-- DropIndex
DROP INDEX "Job_destFileServer_startedAt_idx";

-- CreateIndex
CREATE INDEX "Job_startedAt_id_idx" ON "Job"("startedAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Job_state_startedAt_id_idx" ON "Job"("state", "startedAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Job_policyId_startedAt_id_idx" ON "Job"("policyId", "startedAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Job_share_startedAt_id_idx" ON "Job"("share", "startedAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Job_sourceFileServer_startedAt_id_idx" ON "Job"("sourceFileServer", "startedAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Job_destFileServer_startedAt_id_idx" ON "Job"("destFileServer", "startedAt" DESC, "id" DESC);

