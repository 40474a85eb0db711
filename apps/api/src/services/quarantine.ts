/**
 * Quarantine: a known-flaky test keeps running and reporting (so we see when it is fixed), but its failures do not
 * fail the run. The run roll-up asks `statusesForRunOutcome` which job statuses to judge the run on.
 */
import type { JobStatus, QuarantineView } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import { AppError, ErrorCode } from "../errors.ts";

type Row = { id: string; suite: string; test: string; reason: string; createdBy: string; createdAt: Date; expiresAt: Date | null };

const view = (q: Row): QuarantineView => ({
  ...q,
  createdAt: q.createdAt.toISOString(),
  expiresAt: q.expiresAt?.toISOString() ?? null,
});

const live = (now: Date) => ({ OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] });

export async function isQuarantined(db: Db, suite: string, test: string, now = new Date()): Promise<boolean> {
  return (await db.quarantine.count({ where: { suite, test, ...live(now) } })) > 0;
}

/** Keys `suite/test` of every quarantine in force. */
export async function activeQuarantines(db: Db, now = new Date()): Promise<Set<string>> {
  const rows = await db.quarantine.findMany({ where: live(now), select: { suite: true, test: true } });
  return new Set(rows.map((r) => `${r.suite}/${r.test}`));
}

export async function listQuarantines(db: Db): Promise<QuarantineView[]> {
  const rows = await db.quarantine.findMany({ where: live(new Date()), orderBy: [{ suite: "asc" }, { test: "asc" }] });
  return rows.map(view);
}

export async function getQuarantine(db: Db, suite: string, test: string): Promise<QuarantineView | null> {
  const row = await db.quarantine.findFirst({ where: { suite, test, ...live(new Date()) } });
  return row ? view(row) : null;
}

/** Quarantines a test (or updates the reason and lapse of an existing quarantine). */
export async function quarantineTest(
  db: Db,
  input: { suite: string; test: string; reason: string; days?: number | undefined; createdBy: string },
): Promise<QuarantineView> {
  const expiresAt = input.days ? new Date(Date.now() + input.days * 86_400_000) : null;
  const row = await db.quarantine.upsert({
    where: { suite_test: { suite: input.suite, test: input.test } },
    update: { reason: input.reason, expiresAt, createdBy: input.createdBy, createdAt: new Date() },
    create: { suite: input.suite, test: input.test, reason: input.reason, expiresAt, createdBy: input.createdBy },
  });
  return view(row);
}

export async function releaseTest(db: Db, suite: string, test: string): Promise<void> {
  const { count } = await db.quarantine.deleteMany({ where: { suite, test } });
  if (count === 0) throw new AppError(ErrorCode.NOT_FOUND, `${suite}/${test} is not quarantined (GET /api/v1/quarantine lists them)`);
}

/**
 * The job statuses a run's outcome should be judged on. A `failed` job whose failing tests (last try of its deciding
 * attempt) are all quarantined counts as `passed`, or as `error` if it also had infra errors. Other statuses are
 * returned unchanged. Call it from rollUpRun, inside the same transaction, in place of the raw job statuses.
 */
export async function statusesForRunOutcome(db: Db, jobs: readonly { id: string; status: JobStatus }[]): Promise<JobStatus[]> {
  const failed = jobs.filter((j) => j.status === "failed").map((j) => j.id);
  if (failed.length === 0) return jobs.map((j) => j.status);
  const quarantined = await activeQuarantines(db);
  if (quarantined.size === 0) return jobs.map((j) => j.status);
  // Last try of each test in the newest attempt that reported results, per failed job.
  const rows = await db.$queryRaw<DecidingResult[]>`
    SELECT DISTINCT ON (tr."jobId", tr.test) tr."jobId", tr.suite, tr.test, tr.status::text AS status
    FROM "TestResult" tr JOIN "Attempt" a ON a.id = tr."attemptId"
    WHERE tr."jobId" = ANY(${failed}::uuid[])
    ORDER BY tr."jobId", tr.test, a.number DESC, tr.try DESC`;
  return adjustForQuarantine(jobs, quarantined, rows);
}

/** Deciding results: the last try of each test in the newest attempt, per job (see statusesForRunOutcome). */
export type DecidingResult = { jobId: string; suite: string; test: string; status: string };

/** The pure half of statusesForRunOutcome, shared with the batched finish (which reads the same rows over pg). */
export function adjustForQuarantine(
  jobs: readonly { id: string; status: JobStatus }[],
  quarantined: ReadonlySet<string>,
  rows: readonly DecidingResult[],
): JobStatus[] {
  if (quarantined.size === 0) return jobs.map((j) => j.status);
  const adjusted = new Map<string, JobStatus>();
  for (const { id } of jobs.filter((j) => j.status === "failed")) {
    const mine = rows.filter((r) => r.jobId === id && !quarantined.has(`${r.suite}/${r.test}`));
    if (mine.some((r) => r.status === "fail")) continue;
    adjusted.set(id, mine.some((r) => r.status === "error") ? "error" : "passed");
  }
  return jobs.map((j) => adjusted.get(j.id) ?? j.status);
}
