-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "endMessage" TEXT;
