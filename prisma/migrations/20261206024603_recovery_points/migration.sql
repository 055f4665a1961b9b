-- CreateEnum
CREATE TYPE "SnapshotOrigin" AS ENUM ('local', 'received');

-- CreateEnum
CREATE TYPE "SnapshotPurpose" AS ENUM ('replication', 'final_delta', 'pre_failover', 'safety');

-- DropIndex
DROP INDEX "SnapshotSet_fileServerId_share_createdAt_idx";

-- AlterTable
ALTER TABLE "PolicyShare" DROP COLUMN "lastCompleteAt",
DROP COLUMN "lastCompleteSnapshotSetId",
ADD COLUMN     "replicateRequestedAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "SnapshotSet" ADD COLUMN     "note" TEXT,
ADD COLUMN     "operationId" UUID,
ADD COLUMN     "origin" "SnapshotOrigin" NOT NULL DEFAULT 'local',
ADD COLUMN     "purpose" "SnapshotPurpose" NOT NULL DEFAULT 'replication',
ADD COLUMN     "retained" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "setId" TEXT;

-- Existing rows: the source's set had the set id as its id, the destination's `<set id>@<destination name>`.
UPDATE "SnapshotSet" SET "setId" = split_part(id, '@', 1),
  origin = (CASE WHEN position('@' in id) > 0 THEN 'received' ELSE 'local' END)::"SnapshotOrigin";
ALTER TABLE "SnapshotSet" ALTER COLUMN "setId" SET NOT NULL;
DELETE FROM "SnapshotSet" s WHERE NOT EXISTS (SELECT 1 FROM "FileServer" f WHERE f.id = s."fileServerId");

-- CreateIndex
CREATE INDEX "SnapshotSet_fileServerId_share_complete_createdAt_idx" ON "SnapshotSet"("fileServerId", "share", "complete", "createdAt" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "SnapshotSet_fileServerId_share_setId_key" ON "SnapshotSet"("fileServerId", "share", "setId");

-- AddForeignKey
ALTER TABLE "SnapshotSet" ADD CONSTRAINT "SnapshotSet_fileServerId_fkey" FOREIGN KEY ("fileServerId") REFERENCES "FileServer"("id") ON DELETE CASCADE ON UPDATE CASCADE;

