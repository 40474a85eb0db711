-- CreateIndex
CREATE INDEX "Attempt_status_idx" ON "Attempt"("status");
