-- AlterTable
ALTER TABLE "SerialChunk" ADD COLUMN     "receivedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- CreateTable
CREATE TABLE "Quarantine" (
    "id" UUID NOT NULL,
    "suite" TEXT NOT NULL,
    "test" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3),

    CONSTRAINT "Quarantine_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Quarantine_suite_test_key" ON "Quarantine"("suite", "test");

-- CreateIndex
CREATE INDEX "Run_trigger_createdAt_idx" ON "Run"("trigger", "createdAt" DESC);
