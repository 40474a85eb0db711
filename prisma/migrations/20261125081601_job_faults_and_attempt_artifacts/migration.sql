-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "faults" JSONB;

-- CreateTable
CREATE TABLE "AttemptArtifact" (
    "id" UUID NOT NULL,
    "attemptId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "mediaType" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AttemptArtifact_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "AttemptArtifact_attemptId_name_key" ON "AttemptArtifact"("attemptId", "name");

-- AddForeignKey
ALTER TABLE "AttemptArtifact" ADD CONSTRAINT "AttemptArtifact_attemptId_fkey" FOREIGN KEY ("attemptId") REFERENCES "Attempt"("id") ON DELETE CASCADE ON UPDATE CASCADE;
