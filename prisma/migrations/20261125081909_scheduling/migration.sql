-- DropIndex
DROP INDEX "Job_status_createdAt_idx";

-- DropIndex
DROP INDEX "TestResult_attemptId_test_key";

-- AlterTable
ALTER TABLE "Board" ADD COLUMN     "group" TEXT,
ADD COLUMN     "healthCheckedAt" TIMESTAMPTZ(3),
ADD COLUMN     "healthMessage" TEXT,
ADD COLUMN     "infraErrors" INTEGER NOT NULL DEFAULT 0,
ALTER COLUMN "health" SET DEFAULT 'unknown';

-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "endReason" TEXT,
ADD COLUMN     "priority" INTEGER NOT NULL DEFAULT 100,
ADD COLUMN     "projectId" UUID,
ADD COLUMN     "queueTimeoutMs" INTEGER,
ADD COLUMN     "reruns" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "sameGroup" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "priority" INTEGER NOT NULL DEFAULT 100;

-- AlterTable
ALTER TABLE "TestResult" ADD COLUMN     "try" INTEGER NOT NULL DEFAULT 1;

-- CreateIndex
CREATE INDEX "Job_status_priority_createdAt_idx" ON "Job"("status", "priority" DESC, "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "TestResult_attemptId_test_try_key" ON "TestResult"("attemptId", "test", "try");
