-- AlterTable
ALTER TABLE "Job" DROP COLUMN "reservedRunnerId";
