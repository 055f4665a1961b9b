-- CreateTable
CREATE TABLE "RpoAlert" (
    "id" UUID NOT NULL,
    "policyId" UUID NOT NULL,
    "policyName" TEXT NOT NULL,
    "share" TEXT NOT NULL,
    "rpoSeconds" INTEGER NOT NULL,
    "lastCompleteAt" TIMESTAMP(3),
    "raisedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "clearedAt" TIMESTAMP(3),
    "message" TEXT NOT NULL,

    CONSTRAINT "RpoAlert_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "RpoAlert_clearedAt_raisedAt_idx" ON "RpoAlert"("clearedAt", "raisedAt" DESC);

-- CreateIndex
CREATE INDEX "RpoAlert_policyId_share_clearedAt_idx" ON "RpoAlert"("policyId", "share", "clearedAt");

-- AddForeignKey
ALTER TABLE "RpoAlert" ADD CONSTRAINT "RpoAlert_policyId_fkey" FOREIGN KEY ("policyId") REFERENCES "ReplicationPolicy"("id") ON DELETE CASCADE ON UPDATE CASCADE;

