-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "queueDeadline" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "Job_status_queueDeadline_idx" ON "Job"("status", "queueDeadline");

-- Jobs queued before this migration had their timeout as a delayed Redis job, counted from creation.
UPDATE "Job" SET "queueDeadline" = "createdAt" + "queueTimeoutMs" * interval '1 millisecond'
 WHERE "status" = 'queued' AND "queueTimeoutMs" IS NOT NULL;
