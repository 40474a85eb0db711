/**
 * Group commit for the two runner requests every job makes: result submissions and completed finishes. Requests
 * that arrive while a batch is in flight wait for the next one, and each batch is a fixed handful of set-based
 * statements however many requests it carries. At low load a batch holds one request and adds no delay; under load
 * (fifty runners finishing zero-length jobs) the cost per job falls instead of the queue of transactions growing.
 *
 * Why: on these machines a Postgres round trip costs far more than the SQL it carries (each is a socket write and
 * a wake-up on both sides), and the per-request path needed about twenty of them per job through the ORM.
 *
 * Finishes other than `completed` (infra errors, cancellations) are rare and touch board health, retries and run
 * messages: they take the single-attempt path in runner-protocol.ts. Both paths share decideEnd, so an attempt
 * ends the same way whichever one it takes.
 */
import { randomUUID } from "node:crypto";
import type { FinishAttemptBody, JobStatus, RunStatus, SubmittedResult, TestStatus } from "@tock-hil/protocol";
import type pg from "pg";
import { AppError, ErrorCode, notFound } from "../errors.ts";
import { adjustForQuarantine } from "./quarantine.ts";
import type { DecidingResult } from "./quarantine.ts";
import { decideEnd } from "./runner-protocol.ts";
import { assertTransition, isTerminalJob, runOutcome } from "./states.ts";

type Outcome<O> = O | Error;

/**
 * Collects submissions and runs them in batches, one batch at a time. A batch that fails as a whole (a deadlock, a
 * constraint) is retried one item at a time, so one bad request cannot fail the others.
 */
export class Batcher<I, O> {
  private pending: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    private readonly run: (items: I[]) => Promise<Outcome<O>[]>,
    private readonly maxBatch = 200,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush() {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      let outcomes: Outcome<O>[] | undefined;
      try {
        outcomes = await this.run(batch.map((b) => b.item));
      } catch (err) {
        if (batch.length === 1) batch[0]!.reject(err);
        else
          outcomes = await Promise.all(
            batch.map((b) =>
              this.run([b.item]).then(
                (o) => o[0]!,
                (e: unknown) => e as Error,
              ),
            ),
          );
      }
      outcomes?.forEach((o, i) => (o instanceof Error ? batch[i]!.reject(o) : batch[i]!.resolve(o)));
    }
    this.flushing = false;
  }
}

async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const out = await work(client);
    await client.query("COMMIT");
    return out;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

type AttemptRow = {
  id: string;
  runnerId: string | null;
  status: string;
  endReason: string | null;
  number: number;
  jobId: string;
  runId: string;
  jobStatus: JobStatus;
  tests: string[];
  suite: string;
  maxAttempts: number;
};

const notRunning = (a: Pick<AttemptRow, "id" | "status" | "endReason">) =>
  new AppError(ErrorCode.ATTEMPT_NOT_RUNNING, `attempt ${a.id} is ${a.status} (${a.endReason ?? "no reason"}); stop working on it`);

// --- results ---

export type ResultsItem = { runnerId: string; attemptId: string; results: SubmittedResult[] };

/**
 * Records results of running attempts; re-submitting a test's result updates it (one row per attempt, test and
 * try). The insert locks each attempt row FOR SHARE, so it waits for a finish in flight and then finds the attempt
 * ended: a result cannot slip in after its attempt was judged.
 */
export async function submitResultsBatch(pool: pg.Pool, items: ResultsItem[]): Promise<Outcome<{ recorded: number }>[]> {
  const ids = [...new Set(items.map((i) => i.attemptId))];
  const { rows } = await pool.query<AttemptRow>(
    `SELECT a.id, a."runnerId", a.status::text AS status, a."endReason", j.id AS "jobId", j.tests, j.suite
     FROM "Attempt" a JOIN "Job" j ON j.id = a."jobId" WHERE a.id = ANY($1::uuid[])`,
    [ids],
  );
  const attempts = new Map(rows.map((r) => [r.id, r]));
  const outcomes: Outcome<{ recorded: number }>[] = [];
  // The last submission of a (attempt, test, try) in the batch wins, as it would have one request after another.
  const rowsToWrite = new Map<string, { a: AttemptRow; r: SubmittedResult }>();
  for (const item of items) {
    const a = attempts.get(item.attemptId);
    if (!a || a.runnerId !== item.runnerId) {
      outcomes.push(notFound("attempt", item.attemptId));
      continue;
    }
    if (a.status !== "running") {
      outcomes.push(notRunning(a));
      continue;
    }
    const unknown = item.results.filter((r) => !a.tests.includes(r.test)).map((r) => r.test);
    if (unknown.length > 0) {
      outcomes.push(
        new AppError(ErrorCode.VALIDATION, `tests not part of this job: ${unknown.join(", ")}; expected one of ${a.tests.join(", ")}`),
      );
      continue;
    }
    for (const r of item.results) rowsToWrite.set(`${a.id}/${r.test}/${r.try}`, { a, r });
    outcomes.push({ recorded: item.results.length });
  }
  if (rowsToWrite.size === 0) return outcomes;
  const w = [...rowsToWrite.values()];
  const { rows: written } = await pool.query<{ attemptId: string }>(
    `INSERT INTO "TestResult" (id, "attemptId", "jobId", suite, test, try, status, "durationMs", message, measurements, "logRole", "logStart", "logEnd")
     SELECT x.id, x.aid, a."jobId", x.suite, x.test, x.try, x.status::"TestStatus", x.duration, x.message, x.measurements, x.role, x.start, x.stop
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::text[], $7::int[], $8::text[], $9::jsonb[], $10::text[], $11::int[], $12::int[])
          AS x(id, aid, suite, test, try, status, duration, message, measurements, role, start, stop)
     JOIN "Attempt" a ON a.id = x.aid AND a.status = 'running'
     ORDER BY x.aid
     FOR SHARE OF a
     ON CONFLICT ("attemptId", test, try) DO UPDATE SET status = excluded.status, "durationMs" = excluded."durationMs",
       message = excluded.message, measurements = excluded.measurements, "logRole" = excluded."logRole",
       "logStart" = excluded."logStart", "logEnd" = excluded."logEnd"
     RETURNING "attemptId"`,
    [
      w.map(() => randomUUID()),
      w.map((x) => x.a.id),
      w.map((x) => x.a.suite),
      w.map((x) => x.r.test),
      w.map((x) => x.r.try),
      w.map((x) => x.r.status),
      w.map((x) => x.r.durationMs),
      w.map((x) => x.r.message ?? null),
      w.map((x) => (x.r.measurements === undefined ? null : JSON.stringify(x.r.measurements))),
      w.map((x) => x.r.logSpan?.role ?? null),
      w.map((x) => x.r.logSpan?.start ?? null),
      w.map((x) => x.r.logSpan?.end ?? null),
    ],
  );
  // An attempt that ended between the check and the insert (a finish or a timeout won the race) wrote nothing.
  const landed = new Set(written.map((r) => r.attemptId));
  return outcomes.map((o, i) => {
    const a = attempts.get(items[i]!.attemptId);
    return o instanceof Error || !a || landed.has(a.id) ? o : notRunning({ ...a, status: "no longer running" });
  });
}

// --- completed finishes ---

export type FinishItem = { runnerId: string; attemptId: string; body: FinishAttemptBody & { status: "completed" } };

/**
 * Ends completed attempts: unreported tests get `not_run`, each job its verdict, boards their infra error counts
 * cleared, and every run whose jobs are now all done its outcome (quarantine applied), in one transaction. Runs are
 * locked before attempts, the order every writer uses.
 */
export async function finishCompletedBatch(pool: pg.Pool, items: FinishItem[]): Promise<Outcome<{ jobStatus: JobStatus }>[]> {
  const ids = [...new Set(items.map((i) => i.attemptId))];
  return inTransaction(pool, async (client) => {
    await client.query(
      `SELECT r.id FROM "Run" r JOIN "Job" j ON j."runId" = r.id JOIN "Attempt" a ON a."jobId" = j.id
       WHERE a.id = ANY($1::uuid[]) ORDER BY r.id FOR UPDATE OF r`,
      [ids],
    );
    const { rows } = await client.query<AttemptRow & { results: { test: string; try: number; status: TestStatus }[] }>(
      `SELECT a.id, a."runnerId", a.status::text AS status, a."endReason", a.number, j.id AS "jobId", j."runId",
              j.status::text AS "jobStatus", j.tests, j.suite, j."maxAttempts",
              coalesce((SELECT json_agg(json_build_object('test', tr.test, 'try', tr.try, 'status', tr.status))
                        FROM "TestResult" tr WHERE tr."attemptId" = a.id), '[]') AS results
       FROM "Attempt" a JOIN "Job" j ON j.id = a."jobId"
       WHERE a.id = ANY($1::uuid[]) ORDER BY a.id FOR UPDATE OF a`,
      [ids],
    );
    const attempts = new Map(rows.map((r) => [r.id, r]));
    const ended = new Map<string, JobStatus>();
    const outcomes: Outcome<{ jobStatus: JobStatus }>[] = [];
    const att = { id: [] as string[], reason: [] as string[], message: [] as (string | null)[] };
    const res = {
      id: [] as string[],
      aid: [] as string[],
      jid: [] as string[],
      suite: [] as string[],
      test: [] as string[],
      status: [] as string[],
      message: [] as string[],
    };
    const job = { id: [] as string[], status: [] as string[] };
    for (const item of items) {
      const a = attempts.get(item.attemptId);
      if (!a || a.runnerId !== item.runnerId) {
        outcomes.push(notFound("attempt", item.attemptId));
        continue;
      }
      const already = ended.get(a.id);
      if (already) {
        outcomes.push({ jobStatus: already }); // the same finish twice in one batch (a retry)
        continue;
      }
      if (a.status !== "running") {
        // A retried finish after a lost response is fine; finishing an attempt the server gave up on is not.
        outcomes.push(
          a.status === item.body.status && a.endReason === item.body.reason
            ? { jobStatus: a.jobStatus }
            : new AppError(ErrorCode.ATTEMPT_NOT_RUNNING, `attempt ${a.id} already ended as ${a.status} (${a.endReason ?? "no reason"})`),
        );
        continue;
      }
      assertTransition("attempt", a.id, a.status, "completed");
      const decision = decideEnd(a, a.number, a.results, item.body);
      assertTransition("job", a.jobId, a.jobStatus, decision.next);
      att.id.push(a.id);
      att.reason.push(item.body.reason);
      att.message.push(item.body.message ?? null);
      for (const m of decision.missing) {
        res.id.push(randomUUID());
        res.aid.push(a.id);
        res.jid.push(a.jobId);
        res.suite.push(a.suite);
        res.test.push(m.test);
        res.status.push(m.status);
        res.message.push(m.message);
      }
      job.id.push(a.jobId);
      job.status.push(decision.next);
      ended.set(a.id, decision.next);
      outcomes.push({ jobStatus: decision.next });
    }
    if (att.id.length === 0) return outcomes;

    await client.query(
      `WITH att AS (
         UPDATE "Attempt" a SET status = 'completed', "endReason" = x.reason, message = x.message, "finishedAt" = now()
         FROM unnest($1::uuid[], $2::text[], $12::text[]) AS x(id, message, reason) WHERE a.id = x.id RETURNING a.id
       ), res AS (
         INSERT INTO "TestResult" (id, "attemptId", "jobId", suite, test, status, "durationMs", message)
         SELECT x.id, x.aid, x.jid, x.suite, x.test, x.status::"TestStatus", 0, x.message
         FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[]) AS x(id, aid, jid, suite, test, status, message)
         RETURNING id
       ), job AS (
         UPDATE "Job" j SET status = x.status::"JobStatus", "finishedAt" = now()
         FROM unnest($10::uuid[], $11::text[]) AS x(id, status) WHERE j.id = x.id RETURNING j.id
       ), brd AS (
         UPDATE "Board" SET "infraErrors" = 0
         WHERE id IN (SELECT "boardId" FROM "AttemptBoard" WHERE "attemptId" = ANY($1::uuid[])) AND "infraErrors" > 0 RETURNING id
       )
       SELECT (SELECT count(*) FROM att) AS attempts`,
      [att.id, att.message, res.id, res.aid, res.jid, res.suite, res.test, res.status, res.message, job.id, job.status, att.reason],
    );
    await rollUpRuns(client, [...new Set(att.id.map((id) => attempts.get(id)!.runId))]);
    return outcomes;
  });
}

/** rollUpRun for many runs at once, over pg: a run whose jobs are all done gets its outcome. */
async function rollUpRuns(client: pg.PoolClient, runIds: string[]) {
  const { rows: runs } = await client.query<{ id: string; status: RunStatus; jobs: { id: string; status: JobStatus }[] }>(
    `SELECT r.id, r.status::text AS status, json_agg(json_build_object('id', j.id, 'status', j.status)) AS jobs
     FROM "Run" r JOIN "Job" j ON j."runId" = r.id WHERE r.id = ANY($1::uuid[]) GROUP BY r.id`,
    [runIds],
  );
  const done = runs.filter((r) => r.jobs.every((j) => isTerminalJob(j.status)));
  if (done.length === 0) return;
  // Quarantine matters only for runs with a failed job: read what it needs once for the whole batch.
  const failed = done.flatMap((r) => r.jobs.filter((j) => j.status === "failed").map((j) => j.id));
  let quarantined = new Set<string>();
  let deciding: DecidingResult[] = [];
  if (failed.length > 0) {
    const q = await client.query<{ key: string }>(
      `SELECT suite || '/' || test AS key FROM "Quarantine" WHERE "expiresAt" IS NULL OR "expiresAt" > now()`,
    );
    quarantined = new Set(q.rows.map((r) => r.key));
    if (quarantined.size > 0) {
      deciding = (
        await client.query<DecidingResult>(
          `SELECT DISTINCT ON (tr."jobId", tr.test) tr."jobId", tr.suite, tr.test, tr.status::text AS status
           FROM "TestResult" tr JOIN "Attempt" a ON a.id = tr."attemptId"
           WHERE tr."jobId" = ANY($1::uuid[]) ORDER BY tr."jobId", tr.test, a.number DESC, tr.try DESC`,
          [failed],
        )
      ).rows;
    }
  }
  const update = { id: [] as string[], status: [] as string[] };
  for (const run of done) {
    const outcome = runOutcome(adjustForQuarantine(run.jobs, quarantined, deciding));
    if (run.status === outcome) continue;
    if (run.status === "queued") assertTransition("run", run.id, run.status, "running");
    assertTransition("run", run.id, run.status === "queued" ? "running" : run.status, outcome);
    update.id.push(run.id);
    update.status.push(outcome);
  }
  if (update.id.length === 0) return;
  await client.query(
    `UPDATE "Run" r SET status = x.status::"RunStatus", "finishedAt" = now(), "startedAt" = coalesce(r."startedAt", now())
     FROM unnest($1::uuid[], $2::text[]) AS x(id, status) WHERE r.id = x.id`,
    [update.id, update.status],
  );
}
