-- CreateEnum
CREATE TYPE "RunStatus" AS ENUM ('queued', 'running', 'passed', 'failed', 'error', 'cancelled');

-- CreateEnum
CREATE TYPE "JobStatus" AS ENUM ('queued', 'running', 'passed', 'failed', 'error', 'cancelled');

-- CreateEnum
CREATE TYPE "AttemptStatus" AS ENUM ('running', 'completed', 'error', 'cancelled');

-- CreateEnum
CREATE TYPE "TestStatus" AS ENUM ('pass', 'fail', 'error', 'skip', 'not_run');

-- CreateEnum
CREATE TYPE "RunTrigger" AS ENUM ('manual', 'api', 'nightly', 'push', 'pull_request');

-- CreateEnum
CREATE TYPE "BoardHealth" AS ENUM ('good', 'unknown', 'bad', 'maintenance', 'retired');

-- CreateEnum
CREATE TYPE "ArtifactKind" AS ENUM ('kernel', 'tbf', 'tab');

-- CreateTable
CREATE TABLE "Project" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Project_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Run" (
    "id" UUID NOT NULL,
    "projectId" UUID NOT NULL,
    "trigger" "RunTrigger" NOT NULL,
    "ref" TEXT,
    "parameters" JSONB NOT NULL,
    "seed" BIGINT NOT NULL,
    "status" "RunStatus" NOT NULL DEFAULT 'queued',
    "message" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMPTZ(3),
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "suite" TEXT NOT NULL,
    "tests" TEXT[],
    "roles" JSONB NOT NULL,
    "status" "JobStatus" NOT NULL DEFAULT 'queued',
    "maxAttempts" INTEGER NOT NULL DEFAULT 1,
    "timeoutMs" INTEGER NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMPTZ(3),
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Attempt" (
    "id" UUID NOT NULL,
    "jobId" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "runnerId" UUID,
    "status" "AttemptStatus" NOT NULL DEFAULT 'running',
    "endReason" TEXT,
    "message" TEXT,
    "startedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Attempt_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AttemptBoard" (
    "attemptId" UUID NOT NULL,
    "boardId" UUID NOT NULL,
    "role" TEXT NOT NULL,

    CONSTRAINT "AttemptBoard_pkey" PRIMARY KEY ("attemptId","role")
);

-- CreateTable
CREATE TABLE "TestResult" (
    "id" UUID NOT NULL,
    "attemptId" UUID NOT NULL,
    "jobId" UUID NOT NULL,
    "suite" TEXT NOT NULL,
    "test" TEXT NOT NULL,
    "status" "TestStatus" NOT NULL,
    "durationMs" INTEGER NOT NULL,
    "message" TEXT,
    "measurements" JSONB,
    "logRole" TEXT,
    "logStart" INTEGER,
    "logEnd" INTEGER,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TestResult_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Runner" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "hostname" TEXT,
    "version" TEXT,
    "tokenHash" TEXT NOT NULL,
    "lastSeenAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Runner_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RegistrationToken" (
    "id" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "note" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "usedAt" TIMESTAMPTZ(3),
    "runnerId" UUID,

    CONSTRAINT "RegistrationToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Board" (
    "id" UUID NOT NULL,
    "runnerId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "tags" TEXT[],
    "health" "BoardHealth" NOT NULL DEFAULT 'good',
    "present" BOOLEAN NOT NULL DEFAULT true,
    "lastSeenAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Board_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Artifact" (
    "id" UUID NOT NULL,
    "sha256" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "kind" "ArtifactKind" NOT NULL,
    "name" TEXT NOT NULL,
    "boardType" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Artifact_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SerialLog" (
    "id" UUID NOT NULL,
    "attemptId" UUID NOT NULL,
    "role" TEXT NOT NULL,
    "boardId" UUID,
    "size" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "SerialLog_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SerialChunk" (
    "logId" UUID NOT NULL,
    "offset" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,

    CONSTRAINT "SerialChunk_pkey" PRIMARY KEY ("logId","offset")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "scopes" TEXT[],
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMPTZ(3),
    "revokedAt" TIMESTAMPTZ(3),

    CONSTRAINT "ApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Project_name_key" ON "Project"("name");

-- CreateIndex
CREATE INDEX "Run_createdAt_id_idx" ON "Run"("createdAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Run_projectId_createdAt_idx" ON "Run"("projectId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "Run_status_idx" ON "Run"("status");

-- CreateIndex
CREATE INDEX "Job_runId_idx" ON "Job"("runId");

-- CreateIndex
CREATE INDEX "Job_status_createdAt_idx" ON "Job"("status", "createdAt");

-- CreateIndex
CREATE INDEX "Attempt_runnerId_status_idx" ON "Attempt"("runnerId", "status");

-- CreateIndex
CREATE UNIQUE INDEX "Attempt_jobId_number_key" ON "Attempt"("jobId", "number");

-- CreateIndex
CREATE INDEX "AttemptBoard_boardId_idx" ON "AttemptBoard"("boardId");

-- CreateIndex
CREATE INDEX "TestResult_jobId_idx" ON "TestResult"("jobId");

-- CreateIndex
CREATE INDEX "TestResult_suite_test_createdAt_idx" ON "TestResult"("suite", "test", "createdAt" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "TestResult_attemptId_test_key" ON "TestResult"("attemptId", "test");

-- CreateIndex
CREATE UNIQUE INDEX "Runner_name_key" ON "Runner"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Runner_tokenHash_key" ON "Runner"("tokenHash");

-- CreateIndex
CREATE UNIQUE INDEX "RegistrationToken_tokenHash_key" ON "RegistrationToken"("tokenHash");

-- CreateIndex
CREATE UNIQUE INDEX "RegistrationToken_runnerId_key" ON "RegistrationToken"("runnerId");

-- CreateIndex
CREATE INDEX "Board_type_idx" ON "Board"("type");

-- CreateIndex
CREATE UNIQUE INDEX "Board_runnerId_name_key" ON "Board"("runnerId", "name");

-- CreateIndex
CREATE UNIQUE INDEX "Artifact_sha256_key" ON "Artifact"("sha256");

-- CreateIndex
CREATE INDEX "Artifact_name_createdAt_idx" ON "Artifact"("name", "createdAt" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "SerialLog_attemptId_role_key" ON "SerialLog"("attemptId", "role");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_tokenHash_key" ON "ApiToken"("tokenHash");

-- AddForeignKey
ALTER TABLE "Run" ADD CONSTRAINT "Run_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Job" ADD CONSTRAINT "Job_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Attempt" ADD CONSTRAINT "Attempt_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Attempt" ADD CONSTRAINT "Attempt_runnerId_fkey" FOREIGN KEY ("runnerId") REFERENCES "Runner"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AttemptBoard" ADD CONSTRAINT "AttemptBoard_attemptId_fkey" FOREIGN KEY ("attemptId") REFERENCES "Attempt"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AttemptBoard" ADD CONSTRAINT "AttemptBoard_boardId_fkey" FOREIGN KEY ("boardId") REFERENCES "Board"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TestResult" ADD CONSTRAINT "TestResult_attemptId_fkey" FOREIGN KEY ("attemptId") REFERENCES "Attempt"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TestResult" ADD CONSTRAINT "TestResult_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RegistrationToken" ADD CONSTRAINT "RegistrationToken_runnerId_fkey" FOREIGN KEY ("runnerId") REFERENCES "Runner"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Board" ADD CONSTRAINT "Board_runnerId_fkey" FOREIGN KEY ("runnerId") REFERENCES "Runner"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SerialLog" ADD CONSTRAINT "SerialLog_attemptId_fkey" FOREIGN KEY ("attemptId") REFERENCES "Attempt"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SerialLog" ADD CONSTRAINT "SerialLog_boardId_fkey" FOREIGN KEY ("boardId") REFERENCES "Board"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SerialChunk" ADD CONSTRAINT "SerialChunk_logId_fkey" FOREIGN KEY ("logId") REFERENCES "SerialLog"("id") ON DELETE CASCADE ON UPDATE CASCADE;
