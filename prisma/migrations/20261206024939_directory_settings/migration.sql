-- AlterTable
ALTER TABLE "FileServer" DROP COLUMN "adComputerAccount",
DROP COLUMN "adCredentialsEnc";

-- CreateTable
CREATE TABLE "DirectorySettings" (
    "fileServerId" UUID NOT NULL,
    "domain" TEXT NOT NULL,
    "servers" TEXT[],
    "plainLdap" BOOLEAN NOT NULL DEFAULT false,
    "bindUser" TEXT NOT NULL,
    "bindPasswordEnc" TEXT NOT NULL,
    "caCertificates" TEXT,
    "dnsZone" TEXT NOT NULL,
    "computerAccount" TEXT NOT NULL,
    "spns" TEXT[],
    "fsvmNames" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "DirectorySettings_pkey" PRIMARY KEY ("fileServerId")
);

-- AddForeignKey
ALTER TABLE "DirectorySettings" ADD CONSTRAINT "DirectorySettings_fileServerId_fkey" FOREIGN KEY ("fileServerId") REFERENCES "FileServer"("id") ON DELETE CASCADE ON UPDATE CASCADE;

