-- CreateEnum
CREATE TYPE "GithubTriggerState" AS ENUM ('waiting_approval', 'waiting_firmware', 'started', 'superseded', 'failed');

-- AlterTable
ALTER TABLE "Project" ADD COLUMN     "approvalLabel" TEXT NOT NULL DEFAULT 'hil-approved',
ADD COLUMN     "boards" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "firmwareWorkflow" TEXT,
ADD COLUMN     "issueRepository" TEXT,
ADD COLUMN     "lastNightlyAt" TIMESTAMPTZ(3),
ADD COLUMN     "lastNightlySha" TEXT,
ADD COLUMN     "managedBy" TEXT NOT NULL DEFAULT 'api',
ADD COLUMN     "nightlyBranch" TEXT NOT NULL DEFAULT 'main',
ADD COLUMN     "nightlyCron" TEXT,
ADD COLUMN     "nightlyTimezone" TEXT NOT NULL DEFAULT 'UTC',
ADD COLUMN     "pathFilters" JSONB,
ADD COLUMN     "repositories" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "suites" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- CreateTable
CREATE TABLE "ArtifactCommit" (
    "artifactId" UUID NOT NULL,
    "commitSha" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ArtifactCommit_pkey" PRIMARY KEY ("artifactId","commitSha")
);

-- CreateTable
CREATE TABLE "WebhookDelivery" (
    "id" UUID NOT NULL,
    "deliveryId" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "action" TEXT,
    "repository" TEXT,
    "status" TEXT NOT NULL,
    "outcome" TEXT,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processedAt" TIMESTAMPTZ(3),

    CONSTRAINT "WebhookDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GithubTrigger" (
    "id" UUID NOT NULL,
    "projectId" UUID NOT NULL,
    "repository" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "headSha" TEXT NOT NULL,
    "headRef" TEXT,
    "pullNumber" INTEGER,
    "fork" BOOLEAN NOT NULL DEFAULT false,
    "suites" TEXT[],
    "state" "GithubTriggerState" NOT NULL,
    "message" TEXT,
    "installationId" BIGINT,
    "runId" UUID,
    "checkRunId" BIGINT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "GithubTrigger_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RunReport" (
    "runId" UUID NOT NULL,
    "reportedAt" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "claimedUntil" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RunReport_pkey" PRIMARY KEY ("runId")
);

-- CreateTable
CREATE TABLE "TrackingIssue" (
    "id" UUID NOT NULL,
    "projectId" UUID NOT NULL,
    "suite" TEXT NOT NULL,
    "test" TEXT NOT NULL,
    "boardType" TEXT NOT NULL,
    "repository" TEXT NOT NULL,
    "issueNumber" INTEGER NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'open',
    "failures" INTEGER NOT NULL DEFAULT 1,
    "openedRunId" UUID NOT NULL,
    "lastRunId" UUID NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closedAt" TIMESTAMPTZ(3),

    CONSTRAINT "TrackingIssue_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OutgoingWebhook" (
    "id" UUID NOT NULL,
    "url" TEXT NOT NULL,
    "secret" TEXT NOT NULL,
    "projects" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "active" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "OutgoingWebhook_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OutgoingDelivery" (
    "webhookId" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastStatus" INTEGER,
    "lastError" TEXT,
    "deliveredAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "OutgoingDelivery_pkey" PRIMARY KEY ("webhookId","runId")
);

-- CreateIndex
CREATE INDEX "ArtifactCommit_commitSha_idx" ON "ArtifactCommit"("commitSha");

-- CreateIndex
CREATE UNIQUE INDEX "WebhookDelivery_deliveryId_key" ON "WebhookDelivery"("deliveryId");

-- CreateIndex
CREATE UNIQUE INDEX "GithubTrigger_runId_key" ON "GithubTrigger"("runId");

-- CreateIndex
CREATE INDEX "GithubTrigger_repository_pullNumber_state_idx" ON "GithubTrigger"("repository", "pullNumber", "state");

-- CreateIndex
CREATE INDEX "GithubTrigger_repository_headSha_idx" ON "GithubTrigger"("repository", "headSha");

-- CreateIndex
CREATE INDEX "TrackingIssue_projectId_suite_test_boardType_state_idx" ON "TrackingIssue"("projectId", "suite", "test", "boardType", "state");

-- CreateIndex
CREATE UNIQUE INDEX "TrackingIssue_repository_issueNumber_key" ON "TrackingIssue"("repository", "issueNumber");

-- CreateIndex
CREATE INDEX "OutgoingDelivery_deliveredAt_idx" ON "OutgoingDelivery"("deliveredAt");

-- AddForeignKey
ALTER TABLE "ArtifactCommit" ADD CONSTRAINT "ArtifactCommit_artifactId_fkey" FOREIGN KEY ("artifactId") REFERENCES "Artifact"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GithubTrigger" ADD CONSTRAINT "GithubTrigger_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GithubTrigger" ADD CONSTRAINT "GithubTrigger_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RunReport" ADD CONSTRAINT "RunReport_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrackingIssue" ADD CONSTRAINT "TrackingIssue_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "OutgoingDelivery" ADD CONSTRAINT "OutgoingDelivery_webhookId_fkey" FOREIGN KEY ("webhookId") REFERENCES "OutgoingWebhook"("id") ON DELETE CASCADE ON UPDATE CASCADE;
