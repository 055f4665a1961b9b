-- CreateEnum
CREATE TYPE "Side" AS ENUM ('source', 'destination');

-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "OperationState" ADD VALUE 'awaiting_approval';
ALTER TYPE "OperationState" ADD VALUE 'scheduled';

-- AlterTable
ALTER TABLE "FileServer" DROP COLUMN "status",
ADD COLUMN     "fenceEnforcedAt" TIMESTAMP(3),
ADD COLUMN     "fenceMode" "AccessMode",
ADD COLUMN     "fenceOperationId" UUID,
ADD COLUMN     "fenceReason" TEXT,
ADD COLUMN     "fencedAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "PolicyShare" ADD COLUMN     "paused" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "primary" "Side" NOT NULL DEFAULT 'source';

-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "operationId" UUID;

-- AlterTable
ALTER TABLE "Operation" ADD COLUMN     "approvedAt" TIMESTAMP(3),
ADD COLUMN     "approvedBy" TEXT,
ADD COLUMN     "endedAt" TIMESTAMP(3),
ADD COLUMN     "fileServers" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "idempotencyKey" TEXT,
ADD COLUMN     "requestHash" TEXT,
ADD COLUMN     "requireApproval" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "result" JSONB,
ADD COLUMN     "startAt" TIMESTAMP(3),
ADD COLUMN     "startedAt" TIMESTAMP(3);

-- DropEnum
DROP TYPE "FileServerStatus";

-- CreateIndex
CREATE INDEX "Job_operationId_idx" ON "Job"("operationId");

-- CreateIndex
CREATE UNIQUE INDEX "Operation_idempotencyKey_key" ON "Operation"("idempotencyKey");


-- Operations recorded before: they acted on their source and destination.
UPDATE "Operation" SET "fileServers" = array_remove(ARRAY["sourceFileServer", "destFileServer"], NULL);
