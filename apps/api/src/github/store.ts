/**
 * Database side of the GitHub integration: webhook deliveries (de-duplication) and triggers (commits waiting for
 * approval or firmware, and the runs they became).
 */
import { Prisma } from "../db.ts";
import type { Db } from "../db.ts";
import type { SuiteCatalog } from "../suites.ts";

/** A delivery stuck in `processing` this long (its process died) may be processed again. */
const STUCK_MS = 5 * 60_000;

/**
 * Records a delivery before it is processed. False when it was seen before: processed (a replay) or being
 * processed right now. A delivery whose processing failed is claimed again, so GitHub's "Redeliver" retries it.
 */
export async function claimDelivery(
  db: Db,
  d: { deliveryId: string; event: string; action: string | undefined; repository: string | undefined },
): Promise<boolean> {
  try {
    await db.webhookDelivery.create({
      data: { deliveryId: d.deliveryId, event: d.event, action: d.action ?? null, repository: d.repository ?? null, status: "processing" },
    });
    return true;
  } catch (err) {
    if (!(err instanceof Prisma.PrismaClientKnownRequestError) || err.code !== "P2002") throw err;
  }
  const retried = await db.webhookDelivery.updateMany({
    where: {
      deliveryId: d.deliveryId,
      OR: [{ status: "failed" }, { status: "processing", receivedAt: { lt: new Date(Date.now() - STUCK_MS) } }],
    },
    data: { status: "processing", receivedAt: new Date(), outcome: null },
  });
  return retried.count === 1;
}

export async function finishDelivery(db: Db, deliveryId: string, status: "processed" | "failed", outcome: string): Promise<void> {
  await db.webhookDelivery.update({ where: { deliveryId }, data: { status, outcome: outcome.slice(0, 2000), processedAt: new Date() } });
}

export async function getDelivery(db: Db, deliveryId: string) {
  return db.webhookDelivery.findUnique({ where: { deliveryId } });
}

export const triggerInclude = { project: true } satisfies Prisma.GithubTriggerInclude;
export type TriggerRow = Prisma.GithubTriggerGetPayload<{ include: typeof triggerInclude }>;

export async function createTrigger(db: Db, data: Prisma.GithubTriggerUncheckedCreateInput): Promise<TriggerRow> {
  return db.githubTrigger.create({ data, include: triggerInclude });
}

export async function setTriggerState(db: Db, id: string, state: TriggerRow["state"], message: string | null): Promise<TriggerRow> {
  return db.githubTrigger.update({ where: { id }, data: { state, message }, include: triggerInclude });
}

export async function setCheckRunId(db: Db, id: string, checkRunId: number): Promise<void> {
  await db.githubTrigger.update({ where: { id }, data: { checkRunId: BigInt(checkRunId) } });
}

/** Waiting triggers of a pull request are superseded by a newer head: only the newest commit is tested. */
export async function supersedeWaiting(db: Db, repository: string, pullNumber: number): Promise<number> {
  const res = await db.githubTrigger.updateMany({
    where: { repository, pullNumber, state: { in: ["waiting_approval", "waiting_firmware"] } },
    data: { state: "superseded", message: "a newer commit was pushed to the pull request" },
  });
  return res.count;
}

/**
 * Unfinished runs started for a pull request's heads other than `keepSha` (all of them when it is null) by triggers
 * created before `before`: a delivery never cancels the runs of heads GitHub told us about after it. The head named
 * by `replaced` (the one a push replaced) is included whenever its trigger was created.
 */
export async function unfinishedPullRequestRuns(
  db: Db,
  repository: string,
  pullNumber: number,
  options: { keepSha: string | null; before: Date; replaced?: string | undefined },
): Promise<string[]> {
  const { keepSha, before, replaced } = options;
  const rows = await db.githubTrigger.findMany({
    where: {
      repository,
      pullNumber,
      state: "started",
      OR: [{ createdAt: { lt: before } }, ...(replaced && replaced !== keepSha ? [{ headSha: replaced }] : [])],
      ...(keepSha ? { headSha: { not: keepSha } } : {}),
      run: { status: { in: ["queued", "running"] } },
    },
    select: { runId: true },
  });
  return rows.map((r) => r.runId).filter((id): id is string => id !== null);
}

export async function findTriggers(
  db: Db,
  where: { repository: string; pullNumber?: number; headSha?: string; states?: TriggerRow["state"][]; projectIds?: string[] },
): Promise<TriggerRow[]> {
  return db.githubTrigger.findMany({
    where: {
      repository: where.repository,
      ...(where.pullNumber !== undefined ? { pullNumber: where.pullNumber } : {}),
      ...(where.headSha !== undefined ? { headSha: where.headSha } : {}),
      ...(where.states ? { state: { in: where.states } } : {}),
      ...(where.projectIds ? { projectId: { in: where.projectIds } } : {}),
    },
    include: triggerInclude,
    orderBy: { createdAt: "desc" },
  });
}

/** Marks a trigger started; false when another delivery started it first. Must run in the run's transaction. */
export async function claimTriggerStart(db: Db, id: string, runId: string): Promise<boolean> {
  const res = await db.githubTrigger.updateMany({
    where: { id, runId: null, state: { in: ["waiting_approval", "waiting_firmware"] } },
    data: { state: "started", runId, message: null },
  });
  return res.count === 1;
}

export async function hasFirmwareFor(db: Db, commitSha: string): Promise<boolean> {
  return (await db.artifactCommit.count({ where: { commitSha } })) > 0;
}

/**
 * Firmware pins for a commit: the artifacts CI uploaded with `commit=<sha>`, limited to the names the suites flash
 * (planning refuses pins no suite uses). Without any, planning falls back to the newest uploads.
 */
export async function firmwarePinsFor(db: Db, catalog: SuiteCatalog, suites: string[], commitSha: string): Promise<Record<string, string>> {
  const rows = await db.artifactCommit.findMany({ where: { commitSha }, include: { artifact: true }, orderBy: { createdAt: "asc" } });
  const used = new Set(suites.flatMap((s) => catalog.get(s)?.roles.flatMap((r) => [...r.firmware, ...(r.extraFirmware ?? [])]) ?? []));
  const pins: Record<string, string> = {};
  for (const row of rows) if (used.has(row.artifact.name)) pins[row.artifact.name] = row.artifact.sha256;
  return pins;
}

/** The report row makes the reporter pick the run up once it finishes. */
export async function ensureRunReport(db: Db, runId: string): Promise<void> {
  await db.runReport.upsert({ where: { runId }, update: {}, create: { runId } });
}
