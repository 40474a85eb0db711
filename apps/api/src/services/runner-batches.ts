/**
 * Group commit for the two runner requests every job makes: result submissions and completed finishes. Requests
 * that arrive while a batch is in flight wait for the next one, and each batch is a fixed handful of set-based
 * statements however many requests it carries. At low load a batch holds one request and adds no delay; under load
 * (fifty runners finishing zero-length jobs) the cost per job falls instead of the queue of transactions growing.
 *
 * Why: every round trip and every statement costs CPU on both sides (a socket write, a wake-up, a parse and plan),
 * and the per-request path needed about twenty round trips per job through the ORM; a batch needs one (results)
 * or two (finishes) however many jobs it carries.
 *
 * Finishes other than `completed` (infra errors, cancellations) are rare and touch board health, retries and run
 * messages: they take the single-attempt path in runner-protocol.ts. Both paths share decideEnd, so an attempt
 * ends the same way whichever one it takes.
 */
import { randomUUID } from "node:crypto";
import type { FinishAttemptBody, JobStatus, RunStatus, SubmittedResult, TestStatus } from "@tock-hil/protocol";
import type pg from "pg";
import { onConnection, pipelined } from "../db.ts";
import type { Statement } from "../db.ts";
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
  private inFlight = 0;

  /**
   * @param concurrency batches in flight at once: two keep the database busy while the API process answers the
   *   previous batch's requests, without splitting the load into many small transactions.
   */
  constructor(
    private readonly run: (items: I[]) => Promise<Outcome<O>[]>,
    private readonly concurrency = 1,
    private readonly maxBatch = 200,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.inFlight < this.concurrency) void this.flush();
    });
  }

  private async flush() {
    this.inFlight++;
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
    this.inFlight--;
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

/** A row the results statement refused, and why: its whole request is refused. */
type Problem = { item: number; test: string; try: number; problem: "test" | "reruns" | "no_failed_try" };

/**
 * Records results of running attempts; re-submitting a test's result updates it (one row per attempt, test and
 * try). The insert locks each attempt row FOR SHARE, so it waits for a finish in flight and then finds the attempt
 * ended: a result cannot slip in after its attempt was judged.
 *
 * A re-run (try n > 1) is accepted only within the job's reruns (n ≤ reruns + 1) and after try n - 1 of the same
 * test failed, as recorded before this request or in the same request: that is how a runner re-runs a failed
 * test, and what makes a pass after a fail mean flaky.
 */
export async function submitResultsBatch(pool: pg.Pool, items: ResultsItem[]): Promise<Outcome<{ recorded: number }>[]> {
  // Within one request, the last submission of a test and try wins. Across the batch's requests that is decided in
  // SQL, among the accepted requests only: a refused request must not displace an accepted one's row.
  const w = items.flatMap((it, item) => {
    const last = new Map<string, SubmittedResult>();
    for (const r of it.results) last.set(JSON.stringify([r.test, r.try]), r);
    return [...last.values()].map((r) => ({ item, runnerId: it.runnerId, attemptId: it.attemptId, r }));
  });
  // One statement: lock the attempts FOR SHARE (a finish in flight holds them FOR UPDATE, so a result cannot slip
  // in after its attempt was judged), drop every item with any row that does not belong (wrong runner, attempt
  // not running, test not in the job, a try it may not have), write the rest. The attempt rows come back for the
  // messages, with the refused rows of each.
  const { rows: attempts } = await pool.query<
    Pick<AttemptRow, "id" | "runnerId" | "status" | "endReason" | "tests"> & { reruns: number; problems: Problem[] | null }
  >({
    name: "results-batch",
    text: `WITH a AS (
       SELECT a.id, a."runnerId", a.status::text AS status, a."endReason", a."jobId", j.tests, j.suite, j.reruns
       FROM "Attempt" a JOIN "Job" j ON j.id = a."jobId" WHERE a.id = ANY($1::uuid[]) FOR SHARE OF a
     ), x AS (
       SELECT * FROM unnest($2::int[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::int[], $8::text[], $9::int[], $10::text[],
                            $11::jsonb[], $12::text[], $13::int[], $14::int[])
         AS x(item, aid, runner, id, test, try, status, duration, message, measurements, role, start, stop)
     ), bad AS (
       SELECT x.item, x.aid, x.test, x.try,
              CASE WHEN a.id IS NULL OR a."runnerId" IS DISTINCT FROM x.runner OR a.status <> 'running' THEN 'attempt'
                   WHEN NOT (x.test = ANY(a.tests)) THEN 'test'
                   WHEN x.try > a.reruns + 1 THEN 'reruns'
                   ELSE 'no_failed_try' END AS problem
       FROM x LEFT JOIN a ON a.id = x.aid
       WHERE a.id IS NULL OR a."runnerId" IS DISTINCT FROM x.runner OR a.status <> 'running' OR NOT (x.test = ANY(a.tests))
          OR x.try > a.reruns + 1
          -- The previous try as this request has it, else as stored; looked up only for re-runs, which are rare.
          OR (x.try > 1 AND coalesce(
                (SELECT p.status FROM x p WHERE p.item = x.item AND p.test = x.test AND p.try = x.try - 1),
                (SELECT tr.status::text FROM "TestResult" tr WHERE tr."attemptId" = x.aid AND tr.test = x.test AND tr.try = x.try - 1)
              ) IS DISTINCT FROM 'fail')
     ), ins AS (
       INSERT INTO "TestResult" (id, "attemptId", "jobId", suite, test, try, status, "durationMs", message, measurements, "logRole", "logStart", "logEnd")
       SELECT DISTINCT ON (x.aid, x.test, x.try)
              x.id, x.aid, a."jobId", a.suite, x.test, x.try, x.status::"TestStatus", x.duration, x.message, x.measurements, x.role, x.start, x.stop
       FROM x JOIN a ON a.id = x.aid
       WHERE x.item NOT IN (SELECT item FROM bad)
       -- The last accepted request of the batch wins, as it would one request after another.
       ORDER BY x.aid, x.test, x.try, x.item DESC
       ON CONFLICT ("attemptId", test, try) DO UPDATE SET status = excluded.status, "durationMs" = excluded."durationMs",
         message = excluded.message, measurements = excluded.measurements, "logRole" = excluded."logRole",
         "logStart" = excluded."logStart", "logEnd" = excluded."logEnd"
     )
     SELECT a.id, a."runnerId", a.status, a."endReason", a.tests, a.reruns,
            (SELECT json_agg(json_build_object('item', b.item, 'test', b.test, 'try', b.try, 'problem', b.problem) ORDER BY b.item, b.test, b.try)
             FROM bad b WHERE b.aid = a.id AND b.problem <> 'attempt') AS problems
     FROM a`,
    values: [
      [...new Set(items.map((i) => i.attemptId))],
      w.map((x) => x.item),
      w.map((x) => x.attemptId),
      w.map((x) => x.runnerId),
      w.map(() => randomUUID()),
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
  });
  const byId = new Map(attempts.map((r) => [r.id, r]));
  // The statement's verdicts, now for the messages: attempt-level ones from the attempt row (same snapshot), the
  // others from the rows it refused.
  return items.map((item, i) => {
    const a = byId.get(item.attemptId);
    if (!a || a.runnerId !== item.runnerId) return notFound("attempt", item.attemptId);
    if (a.status !== "running") return notRunning(a);
    const mine = (a.problems ?? []).filter((p) => p.item === i);
    if (mine.length === 0) return { recorded: item.results.length };
    const unknown = [...new Set(mine.filter((p) => p.problem === "test").map((p) => p.test))];
    if (unknown.length > 0) {
      return new AppError(ErrorCode.VALIDATION, `tests not part of this job: ${unknown.join(", ")}; expected one of ${a.tests.join(", ")}`);
    }
    const why = mine.map((p) =>
      p.problem === "reruns"
        ? `${p.test} try ${p.try}: this job re-runs a failed test at most ${a.reruns} time(s), so its tries go up to ${a.reruns + 1}`
        : `${p.test} try ${p.try}: a re-run is taken only after try ${p.try - 1} of the test failed; submit that failed try first`,
    );
    return new AppError(ErrorCode.VALIDATION, why.join("; "));
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
  return onConnection(pool, async (client) => {
    // Round trip 1: BEGIN, lock runs then attempts (one statement, ordered by run), then read what the decisions
    // need. Job statuses of a locked run cannot change under us: every writer locks the run first. The reads are
    // statements of their own, after the lock: a statement sees what was committed when it began, so results
    // read by the locking statement itself would miss a results batch that committed while it waited.
    const [, , locked, runJobs, quarantine] = (await pipelined(client, [
      "BEGIN",
      {
        name: "finish-lock",
        text: `SELECT a.id FROM "Attempt" a JOIN "Job" j ON j.id = a."jobId" JOIN "Run" r ON r.id = j."runId"
               WHERE a.id = ANY($1::uuid[]) ORDER BY r.id, a.id FOR UPDATE OF r, a`,
        values: [ids],
      },
      {
        name: "finish-read",
        text: `SELECT a.id, a."runnerId", a.status::text AS status, a."endReason", a.number, j.id AS "jobId", j."runId",
                      j.status::text AS "jobStatus", j.tests, j.suite, j."maxAttempts", r.status::text AS "runStatus",
                      coalesce((SELECT json_agg(json_build_object('test', tr.test, 'try', tr.try, 'status', tr.status))
                                FROM "TestResult" tr WHERE tr."attemptId" = a.id), '[]') AS results
               FROM "Attempt" a JOIN "Job" j ON j.id = a."jobId" JOIN "Run" r ON r.id = j."runId"
               WHERE a.id = ANY($1::uuid[])`,
        values: [ids],
      },
      {
        name: "finish-run-jobs",
        text: `SELECT j."runId", j.id, j.status::text AS status FROM "Job" j
               WHERE j."runId" IN (SELECT j2."runId" FROM "Job" j2 JOIN "Attempt" a ON a."jobId" = j2.id WHERE a.id = ANY($1::uuid[]))`,
        values: [ids],
      },
      {
        name: "finish-quarantine",
        text: `SELECT suite || '/' || test AS key FROM "Quarantine" WHERE "expiresAt" IS NULL OR "expiresAt" > now()`,
      },
    ])) as [
      unknown,
      unknown,
      pg.QueryResult<AttemptRow & { runStatus: RunStatus; results: { test: string; try: number; status: TestStatus }[] }>,
      pg.QueryResult<{ runId: string; id: string; status: JobStatus }>,
      pg.QueryResult<{ key: string }>,
    ];
    const attempts = new Map(locked.rows.map((r) => [r.id, r]));
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
    if (att.id.length === 0) {
      await client.query("COMMIT");
      return outcomes;
    }

    const values = [
      att.id,
      att.message,
      res.id,
      res.aid,
      res.jid,
      res.suite,
      res.test,
      res.status,
      res.message,
      job.id,
      job.status,
      att.reason,
    ];
    const next = new Map(job.id.map((id, i) => [id, job.status[i] as JobStatus]));
    const runs = new Map<string, { id: string; status: JobStatus }[]>();
    for (const j of runJobs.rows) runs.set(j.runId, [...(runs.get(j.runId) ?? []), { id: j.id, status: next.get(j.id) ?? j.status }]);
    const current = new Map(locked.rows.map((r) => [r.runId, r.runStatus]));
    const quarantined = new Set(quarantine.rows.map((q) => q.key));
    const settle = (outcomes: { runId: string; outcome: RunStatus }[]) =>
      outcomes.filter(({ runId, outcome }) => {
        const from = current.get(runId)!;
        if (from === outcome) return false;
        if (from === "queued") assertTransition("run", runId, from, "running");
        assertTransition("run", runId, from === "queued" ? "running" : from, outcome);
        return true;
      });

    const write: Statement = { name: "finish-write", text: WRITE_SQL, values };
    if (!needsDecidingResults(runs, quarantined)) {
      // The common case: every run outcome is known now, so the writes, the runs and COMMIT share the second and
      // last round trip.
      await pipelined(client, [write, ...runsStatement(settle(runOutcomes(runs, quarantined, []))), "COMMIT"]);
      return outcomes;
    }

    // A failed job while a quarantine is in force: the deciding results include the not_run ones written here,
    // so the writes and the read of them share round trip 2, and the run outcomes go with COMMIT (3).
    const failed = doneRuns(runs).flatMap(([, jobs]) => jobs.filter((j) => j.status === "failed").map((j) => j.id));
    const [, { rows: deciding }] = (await pipelined(client, [
      write,
      {
        name: "finish-deciding",
        text: `SELECT DISTINCT ON (tr."jobId", tr.test) tr."jobId", tr.suite, tr.test, tr.status::text AS status
               FROM "TestResult" tr JOIN "Attempt" a ON a.id = tr."attemptId"
               WHERE tr."jobId" = ANY($1::uuid[]) ORDER BY tr."jobId", tr.test, a.number DESC, tr.try DESC`,
        values: [failed],
      },
    ])) as [unknown, pg.QueryResult<DecidingResult>];
    await pipelined(client, [...runsStatement(settle(runOutcomes(runs, quarantined, deciding))), "COMMIT"]);
    return outcomes;
  });
}

/**
 * Every write of a finish batch in one statement: attempts completed, unreported tests not_run, jobs their
 * verdicts, boards their infra error counts cleared. Its twelve parameters are the arrays built above.
 */
const WRITE_SQL = `WITH att AS (
    UPDATE "Attempt" a SET status = 'completed', "endReason" = x.reason, message = x.message, "finishedAt" = now()
    FROM unnest($1::uuid[], $2::text[], $12::text[]) AS x(id, message, reason) WHERE a.id = x.id RETURNING a.id
  ), res AS (
    INSERT INTO "TestResult" (id, "attemptId", "jobId", suite, test, status, "durationMs", message)
    SELECT x.id, x.aid, x.jid, x.suite, x.test, x.status::"TestStatus", 0, x.message
    FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[])
      AS x(id, aid, jid, suite, test, status, message)
    RETURNING id
  ), job AS (
    UPDATE "Job" j SET status = x.status::"JobStatus", "finishedAt" = now()
    FROM unnest($10::uuid[], $11::text[]) AS x(id, status) WHERE j.id = x.id RETURNING j.id
  ), brd AS (
    UPDATE "Board" SET "infraErrors" = 0
    WHERE id IN (SELECT "boardId" FROM "AttemptBoard" WHERE "attemptId" = ANY($1::uuid[])) AND "infraErrors" > 0 RETURNING id
  )
  SELECT (SELECT count(*) FROM att) AS attempts`;

/** The statement for every run the batch settles (none: nothing). */
const runsStatement = (settled: { runId: string; outcome: RunStatus }[]): Statement[] =>
  settled.length === 0
    ? []
    : [
        {
          name: "finish-runs",
          text: `UPDATE "Run" r SET status = x.outcome::"RunStatus", "finishedAt" = now(), "startedAt" = coalesce(r."startedAt", now())
                 FROM unnest($1::uuid[], $2::text[]) AS x(id, outcome) WHERE r.id = x.id`,
          values: [settled.map((o) => o.runId), settled.map((o) => o.outcome)],
        },
      ];

type RunJobs = Map<string, { id: string; status: JobStatus }[]>;
const doneRuns = (runs: RunJobs) => [...runs].filter(([, jobs]) => jobs.every((j) => isTerminalJob(j.status)));

/**
 * Quarantine matters only for a run with a failed job, and only while some quarantine is in force: only then do
 * the outcomes need the deciding results of the failed jobs.
 */
const needsDecidingResults = (runs: RunJobs, quarantined: Set<string>) =>
  quarantined.size > 0 && doneRuns(runs).some(([, jobs]) => jobs.some((j) => j.status === "failed"));

/** rollUpRun for many runs at once: the runs whose jobs are all done, with their outcome (quarantine applied). */
function runOutcomes(runs: RunJobs, quarantined: Set<string>, deciding: DecidingResult[]): { runId: string; outcome: RunStatus }[] {
  return doneRuns(runs).map(([runId, jobs]) => ({ runId, outcome: runOutcome(adjustForQuarantine(jobs, quarantined, deciding)) }));
}
