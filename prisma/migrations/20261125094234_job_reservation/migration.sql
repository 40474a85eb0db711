-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "reservedRunnerId" UUID;
