/**
 * Leasing: decides what runners do next. Lease requests (long polls) wait here; a scheduling pass takes every
 * waiting request at once, reads the boards and the head of the queue, plans all placements together (planPass in
 * matching.ts: gang allocation, priorities, fair share, reservations) and commits them in one transaction. A
 * board of unknown health gets a health check before it may take a job.
 *
 * Why one pass for everyone rather than each request planning for itself: when fifty runners ask at once, a pass
 * costs the same handful of statements whether it starts one job or fifty, so throughput grows with load instead
 * of collapsing into lock contention; and a planner that sees every runner can pack big jobs and reserve boards
 * across the whole lab. Passes are serialised by a transaction-level advisory lock, so several API processes can
 * share one database: each pass plans on committed state, and the conditional claim (`status = 'queued'`) settles
 * any job another writer (a cancel, a queue timeout) touched in between.
 */
import { randomUUID } from "node:crypto";
import type { BoardHealth, Faults, HealthCheck, Lease } from "@tock-hil/protocol";
import type pg from "pg";
import type { Logger } from "pino";
import { onConnection, pipelined } from "../db.ts";
import type { PrismaClient } from "../db.ts";
import { isDatabaseUnavailable } from "../errors.ts";
import type { WorkSignal } from "../work-signal.ts";
import { planPass } from "./matching.ts";
import { assertTransition } from "./states.ts";
import type { Placement, Plan, QueuedJobForPlan, RunnerBoardState, RunnerForPlan } from "./matching.ts";
import type { PlannedRole } from "./runs.ts";

/** Advisory lock that serialises scheduling passes across API processes. */
const PASS_LOCK = [0x48494c, 1] as const;
/**
 * How many queued jobs the cached head of the queue holds; beyond that, jobs wait for the head to move. Reading
 * the head costs about the same however many rows it returns (it ranks every queued job), so a long head read
 * rarely beats a short one read often.
 */
const SCAN_LIMIT = 1000;
/** The head is read again when fewer than this many cached jobs are left (more than one pass can start). */
const REFILL_BELOW = 200;
/** How many times one pass may read further down the queue for idle boards (each read adds SCAN_LIMIT jobs). */
const MAX_EXTENSIONS = 3;
/** Passes also run this often while requests wait: another API process may have freed boards, and jobs age. */
const POLL_MS = 1000;

export type LeaseSettings = {
  /** Priority points a queued job gains per minute of waiting, so low priorities are not starved forever. */
  agingPerMinute: number;
  /** Points per priority class: within a class, fair share between projects decides (HIL_PRIORITY_STEP). */
  priorityStep: number;
  /** Boards of runners silent for this long are left out of planning (nobody would run their jobs). */
  runnerTimeoutMs: number;
  steps: Lease["steps"];
  /** Off only in tests that show what reservations prevent. */
  reserve?: boolean;
};

export type LeaseDecision = { lease: Lease | null; healthCheck: HealthCheck | null };
const NOTHING: LeaseDecision = { lease: null, healthCheck: null };

type BoardRow = {
  id: string;
  runnerId: string;
  name: string;
  type: string;
  tags: string[];
  group: string | null;
  health: string;
  healthMessage: string | null;
  busy: boolean;
};
type CandidateRow = {
  id: string;
  runId: string;
  projectId: string | null;
  suite: string;
  tests: string[];
  roles: PlannedRole[];
  sameGroup: boolean;
  faults: Faults | null;
  timeoutMs: number;
  reruns: number;
  seed: string;
  /** The class of its effective priority (priority plus aging, in steps of priorityStep). */
  priorityClass: number;
  /** Boards the job's project holds in running jobs (fair share counts boards, not jobs). */
  projectRunning: number;
  avoid: string[];
};

type Candidate = CandidateRow & { plan: QueuedJobForPlan };
/** A placement with its attempt; `number` is known once the commit has created the attempt. */
type Planned = { placement: Placement; job: Candidate; attemptId: string; number: number };
/** The cached head of the queue, in scheduling order, with the boards each project holds (for fair share). */
type QueueHead = {
  rows: Candidate[];
  byId: Map<string, Candidate>;
  running: Map<string | null, number>;
  types: Set<string>;
  readAt: number;
  complete: boolean;
  /** Board-type sets the head was already read further for (see `extend`), so it is done once per read. */
  extended: Set<string>;
};

type Waiter = {
  runnerId: string;
  resolve: (decision: LeaseDecision) => void;
  /** Answered or gone (timed out, connection closed): a pass must not hand it anything. */
  done: boolean;
  /** The deadline passed while a pass that included it was still running. */
  expired: boolean;
  passes: number;
  timer: NodeJS.Timeout | undefined;
};

export type DispatcherOptions = {
  pool: pg.Pool;
  prisma: PrismaClient;
  settings: LeaseSettings;
  workSignal: WorkSignal;
  logger: Logger;
};

export class Dispatcher {
  private readonly waiters = new Map<string, Waiter[]>();
  /**
   * Runners that asked since the last pass: their lastSeenAt is bumped (asking for work is a sign of life), at
   * most once a second per runner: the reaper counts in tens of seconds, and a runner leasing a thousand
   * zero-length jobs a second should not cost a thousand row updates.
   */
  private readonly fresh = new Set<string>();
  private readonly bumped = new Map<string, number>();
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  /** Passes failed in a row (reset by one that succeeds). */
  private failures = 0;
  private readonly poll: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private cache: QueueHead | undefined;

  constructor(private readonly options: DispatcherOptions) {
    this.unsubscribe = options.workSignal.subscribe((change) => {
      if (change === "queue") this.cache = undefined;
      this.kick();
    });
    this.poll = setInterval(() => {
      if (this.waiters.size > 0) this.kick();
    }, POLL_MS).unref();
  }

  /** Waits up to `waitMs` for a job (or a health check) for this runner; every request takes part in one pass at least. */
  lease(runnerId: string, waitMs: number, signal?: AbortSignal): Promise<LeaseDecision> {
    if (this.closed || signal?.aborted) return Promise.resolve(NOTHING);
    return new Promise((resolve) => {
      const waiter: Waiter = { runnerId, resolve, done: false, expired: false, passes: 0, timer: undefined };
      waiter.timer = setTimeout(() => {
        if (waiter.passes > 0) this.answer(waiter, NOTHING);
        else waiter.expired = true;
      }, waitMs);
      signal?.addEventListener("abort", () => this.answer(waiter, NOTHING), { once: true });
      const list = this.waiters.get(runnerId) ?? [];
      list.push(waiter);
      this.waiters.set(runnerId, list);
      if (Date.now() - (this.bumped.get(runnerId) ?? 0) >= 1000) this.fresh.add(runnerId);
      this.kick();
    });
  }

  /** Something changed (boards freed, jobs queued): plan again as soon as the current pass ends. */
  kick(): void {
    if (this.closed) return;
    this.again = true;
    this.running ??= this.loop();
  }

  /** Answers every waiting request with nothing and waits for the pass in flight. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    this.unsubscribe();
    for (const list of this.waiters.values()) for (const w of [...list]) this.answer(w, NOTHING);
    await this.running;
  }

  private answer(waiter: Waiter, decision: LeaseDecision) {
    if (waiter.done) return;
    waiter.done = true;
    clearTimeout(waiter.timer);
    const list = this.waiters.get(waiter.runnerId);
    if (list) {
      list.splice(list.indexOf(waiter), 1);
      if (list.length === 0) this.waiters.delete(waiter.runnerId);
    }
    waiter.resolve(decision);
  }

  private async loop() {
    while (this.again && !this.closed) {
      this.again = false;
      try {
        await this.pass();
        if (this.failures > 0) this.options.logger.info({ failures: this.failures }, "scheduling passes work again");
        this.failures = 0;
      } catch (err) {
        this.failures++;
        // Through a database outage the passes back off (0.1 s doubling to 2 s) and say so at the 1st, 2nd, 4th,
        // 8th... failure, as a warning: a log line every 100 ms for minutes would bury what caused it.
        const outage = isDatabaseUnavailable(err);
        if (!outage) this.options.logger.error({ err }, "scheduling pass failed; retrying");
        else if ((this.failures & (this.failures - 1)) === 0)
          this.options.logger.warn({ err, failures: this.failures }, "scheduling pass failed: the database is unavailable; retrying");
        await new Promise((r) => setTimeout(r, outage ? Math.min(2000, 100 * 2 ** (this.failures - 1)) : 100));
        this.again = true;
      }
    }
    this.running = undefined;
  }

  private async pass() {
    const waiting = new Map<string, Waiter[]>();
    for (const [runnerId, list] of this.waiters) waiting.set(runnerId, [...list]);
    if (waiting.size === 0) return;
    const { pool } = this.options;
    const seen = [...this.fresh];
    this.fresh.clear();
    for (const id of seen) this.bumped.set(id, Date.now());

    const decisions = new Map<Waiter, LeaseDecision>();
    let placements: Planned[];
    try {
      placements = await onConnection(pool, (client) => this.planAndCommit(client, waiting, seen, decisions));
    } catch (err) {
      this.cache = undefined;
      throw err;
    }
    return this.deliver(decisions, waiting, placements);
  }

  /**
   * The pass's transaction: reads the boards, decides health checks (into `decisions`), plans and commits.
   * Returns the placements that stuck.
   */
  private async planAndCommit(
    client: pg.PoolClient,
    waiting: Map<string, Waiter[]>,
    seen: string[],
    decisions: Map<Waiter, LeaseDecision>,
  ) {
    const { settings } = this.options;
    // One round trip: BEGIN, the pass lock (every pass of every API process takes it), the sign of life of the
    // runners that asked (when any is due), and the boards. The pass commits without waiting for the WAL flush
    // (a millisecond or more here, on every hand-over): if Postgres crashed right after, the lost lease would
    // leave its job queued and the runner's results and finish would be refused as for an unknown attempt, so it
    // costs a re-run, never a wrong result. Results and finishes keep synchronous commits.
    const results = await pipelined(client, [
      "BEGIN",
      { name: "pass-lock", text: `SELECT pg_advisory_xact_lock($1::int, $2::int)`, values: [...PASS_LOCK] },
      ...(seen.length > 0
        ? [
            "SET LOCAL synchronous_commit = off",
            { name: "pass-seen", text: `UPDATE "Runner" SET "lastSeenAt" = now() WHERE id = ANY($1::uuid[])`, values: [seen] },
          ]
        : []),
      {
        name: "pass-boards",
        text: `SELECT b.id, b."runnerId", b.name, b.type, b.tags, b."group", b.health::text AS health, b."healthMessage",
                      -- From the few running attempts (index on status), not from each board's whole history.
                      b.id IN (SELECT ab."boardId" FROM "Attempt" a JOIN "AttemptBoard" ab ON ab."attemptId" = a.id
                               WHERE a.status = 'running') AS busy
               FROM "Board" b JOIN "Runner" r ON r.id = b."runnerId"
               WHERE b.present AND b.health IN ('good', 'unknown')
                 AND (r.id = ANY($1::uuid[]) OR r."lastSeenAt" > now() - $2::float8 * interval '1 millisecond')
               ORDER BY b."runnerId", b.name`,
        values: [[...waiting.keys()], settings.runnerTimeoutMs],
      },
    ]);
    const boards = (results.at(-1) as pg.QueryResult<BoardRow>).rows;

    // Health checks first: a board of unknown health proves itself before it takes a job.
    const spare = new Map([...waiting].map(([id, list]) => [id, [...list]]));
    for (const [runnerId, list] of spare) {
      const unknown = boards.filter((b) => b.runnerId === runnerId && b.health === "unknown" && !b.busy);
      if (unknown.length === 0) continue;
      const check = await healthCheckFor(this.options.prisma, unknown, settings);
      if (check) decisions.set(list.shift()!, { lease: null, healthCheck: check });
    }

    const runners: RunnerForPlan[] = [];
    for (const b of boards) {
      if (b.health !== "good") continue;
      let r = runners.at(-1);
      if (r?.id !== b.runnerId) runners.push((r = { id: b.runnerId, waiting: spare.get(b.runnerId)?.length ?? 0, boards: [] }));
      (r.boards as RunnerBoardState[]).push({ id: b.id, name: b.name, type: b.type, tags: b.tags, group: b.group, free: !b.busy });
    }
    if (!runners.some((r) => r.waiting > 0 && r.boards.some((b) => b.free))) {
      await client.query("COMMIT");
      return [];
    }

    const types = [...new Set(runners.flatMap((r) => r.boards.map((b) => b.type)))];
    const head = await this.queue(client, types);
    const planAll = () =>
      planPass(
        head.rows.map((c) => c.plan),
        runners,
        { running: head.running, reserve: settings.reserve ?? true },
      );
    let plan = planAll();
    // Boards left idle on a waiting runner while the head is only part of the queue: the jobs that could use
    // them may be beyond it, behind jobs that cannot start (all their boards busy, or needs no lab can meet), so
    // read further for jobs of those boards' types and plan again. Once per head read and type set: a lab whose
    // idle boards have no work pays one extra read a second, not one a pass.
    for (let more = 0; more < MAX_EXTENSIONS && !head.complete; more++) {
      const idle = idleTypes(runners, plan);
      const key = idle.join("\u0000");
      if (idle.length === 0 || head.extended.has(key)) break;
      head.extended.add(key);
      if ((await this.extend(client, head, idle)) === 0) break;
      plan = planAll();
    }
    const placements: Planned[] = plan.placements.map((placement) => ({
      placement,
      job: head.byId.get(placement.jobId)!,
      attemptId: randomUUID(),
      number: 0,
    }));
    if (placements.length === 0) {
      await client.query("COMMIT");
      return [];
    }
    const kept = await this.commit(client, placements);
    // Whatever was planned leaves the cached queue: started, or found not queued any more.
    if (this.cache === head) {
      for (const p of placements) head.byId.delete(p.job.id);
      head.rows = head.rows.filter((c) => head.byId.has(c.id));
      for (const p of kept) head.running.set(p.job.projectId, (head.running.get(p.job.projectId) ?? 0) + p.job.roles.length);
    }
    return kept;
  }

  /**
   * The head of the queue in scheduling order. Re-reading it is the most expensive statement of a pass (it sorts
   * every queued job), so it is cached between passes: dropped when this process learns the queue changed (runs
   * created or cancelled, jobs put back for a retry), re-read at least every POLL_MS (other API processes, aging),
   * and when the cached window runs low. A cached job that is no longer queued costs nothing: the conditional
   * claim skips it.
   */
  private async queue(client: pg.PoolClient, types: string[]): Promise<QueueHead> {
    const c = this.cache;
    const fresh =
      c && Date.now() - c.readAt < POLL_MS && types.every((t) => c.types.has(t)) && (c.complete || c.rows.length >= REFILL_BELOW);
    if (fresh) return c;
    const rows = await this.readHead(client, types, []);
    const candidates = rows.map((row, order) => candidate(row, order));
    this.cache = {
      rows: candidates,
      byId: new Map(candidates.map((c) => [c.id, c])),
      running: new Map(rows.map((r) => [r.projectId, r.projectRunning])),
      types: new Set(types),
      readAt: Date.now(),
      complete: rows.length < SCAN_LIMIT,
      extended: new Set(),
    };
    return this.cache;
  }

  /** Reads the next best jobs that need only boards of `types` and are not in the head yet; returns how many. */
  private async extend(client: pg.PoolClient, head: QueueHead, types: string[]): Promise<number> {
    const rows = await this.readHead(client, types, [...head.byId.keys()]);
    let order = head.rows.length;
    for (const row of rows) {
      if (head.byId.has(row.id)) continue;
      const c = candidate(row, order++);
      head.rows.push(c);
      head.byId.set(c.id, c);
      if (!head.running.has(row.projectId)) head.running.set(row.projectId, row.projectRunning);
    }
    return rows.length;
  }

  /**
   * The best queued jobs (up to SCAN_LIMIT) whose boards are all of `types`, leaving out `exclude`, in scheduling
   * order: priority class, then fair share (fewer boards held by the project), then bigger jobs, then age.
   */
  private async readHead(client: pg.PoolClient, types: string[], exclude: string[]): Promise<CandidateRow[]> {
    const { agingPerMinute, priorityStep } = this.options.settings;
    // date_part, not extract: it computes in double precision where extract uses numeric, which costs a
    // millisecond per thousand queued jobs. The running counts are materialised once: inlined, the planner may
    // recount them for every queued job.
    const { rows } = await client.query<CandidateRow>({
      name: exclude.length > 0 ? "head-extend" : "head",
      text: `WITH running AS MATERIALIZED (
         SELECT "projectId", sum(jsonb_array_length(roles))::int AS n FROM "Job" WHERE status = 'running' GROUP BY "projectId"
       ), head AS (
         SELECT j.id, floor((j.priority + date_part('epoch', now() - j."createdAt") / 60 * $2) / $3)::int AS "priorityClass",
                coalesce(running.n, 0) AS "projectRunning", jsonb_array_length(j.roles) AS size
         FROM "Job" j JOIN "Run" r ON r.id = j."runId"
         LEFT JOIN running ON running."projectId" IS NOT DISTINCT FROM j."projectId"
         WHERE j.status = 'queued' AND r.status IN ('queued', 'running')
           AND jsonb_path_query_array(j.roles, '$[*].boardType') <@ to_jsonb($1::text[])
           ${exclude.length > 0 ? `AND NOT (j.id = ANY($4::uuid[]))` : ""}
         ORDER BY "priorityClass" DESC, "projectRunning" ASC, size DESC, j."createdAt" ASC, j.id ASC
         LIMIT ${SCAN_LIMIT}
       )
       SELECT j.id, j."runId", j."projectId", j.suite, j.tests, j.roles, j."sameGroup", j.faults, j."timeoutMs", j.reruns,
              r.seed::text AS seed, h."priorityClass", h."projectRunning",
              ARRAY(SELECT ab."boardId"::text FROM "Attempt" a JOIN "AttemptBoard" ab ON ab."attemptId" = a.id
                    WHERE a."jobId" = j.id AND a.status = 'error') AS avoid
       FROM head h JOIN "Job" j ON j.id = h.id JOIN "Run" r ON r.id = j."runId"
       ORDER BY h."priorityClass" DESC, h."projectRunning" ASC, h.size DESC, j."createdAt" ASC, j.id ASC`,
      values: exclude.length > 0 ? [types, agingPerMinute, priorityStep, exclude] : [types, agingPerMinute, priorityStep],
    });
    return rows;
  }

  /**
   * Claims the planned jobs, creates their attempts and commits, in one round trip: lock the runs (before jobs:
   * the lock order every writer uses, so none of them can deadlock), then one statement with the conditional
   * claim and attempts with boards only for the jobs it claimed (a job cancelled or expired since it was read
   * stays as it is; its boards are planned again next pass). Returns the placements that stuck.
   */
  private async commit(client: pg.PoolClient, placements: Planned[]) {
    const runIds = [...new Set(placements.map((p) => p.job.runId))].sort();
    const roles = placements.flatMap((p) =>
      p.job.roles.map((r) => ({ attempt: p.attemptId, board: p.placement.boards.get(r.role)!.id, role: r.role })),
    );
    const results = (await pipelined(client, [
      "SET LOCAL synchronous_commit = off",
      { name: "commit-lock", text: `SELECT id FROM "Run" WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, values: [runIds] },
      {
        name: "commit-claim",
        // The status tests compare text on purpose, so that no status index can serve them: the rows are found by
        // their ids. Right after a big run is queued the statistics still say queued jobs are rare, and the
        // planner would read every queued job through the status index to find the few it claims.
        text: `WITH claimed AS (
                 UPDATE "Job" SET status = 'running', "startedAt" = coalesce("startedAt", now())
                 WHERE id = ANY($2::uuid[]) AND status::text = 'queued' RETURNING id, "runId"
               ), att AS (
                 -- The attempt number from the table, not from the cached head: another API process may have run
                 -- and retried the job since this one read it.
                 INSERT INTO "Attempt" (id, "jobId", number, "runnerId")
                 SELECT x.id, x.job, (SELECT coalesce(max(number), 0) + 1 FROM "Attempt" p WHERE p."jobId" = x.job), x.runner
                 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS x(id, job, runner)
                 WHERE x.job IN (SELECT id FROM claimed) RETURNING id, "jobId", number
               ), boards AS (
                 INSERT INTO "AttemptBoard" ("attemptId", "boardId", role)
                 SELECT y.attempt, y.board, y.role FROM unnest($4::uuid[], $5::uuid[], $6::text[]) AS y(attempt, board, role)
                 WHERE y.attempt IN (SELECT id FROM att)
               ), runs AS (
                 UPDATE "Run" SET status = 'running', "startedAt" = now()
                 WHERE id IN (SELECT "runId" FROM claimed) AND status::text = 'queued'
               )
               SELECT "jobId" AS id, number FROM att`,
        values: [
          placements.map((p) => p.attemptId),
          placements.map((p) => p.job.id),
          placements.map((p) => p.placement.runnerId),
          roles.map((r) => r.attempt),
          roles.map((r) => r.board),
          roles.map((r) => r.role),
        ],
      },
      "COMMIT",
    ])) as [unknown, unknown, pg.QueryResult<{ id: string; number: number }>, unknown];
    const claimed = new Map(results[2].rows.map((r) => [r.id, r.number]));
    return placements.filter((p) => claimed.has(p.job.id)).map((p) => ({ ...p, number: claimed.get(p.job.id)! }));
  }

  /** Hands out what the pass decided. A lease whose request went away meanwhile goes to another request of the same runner, or back to the queue. */
  private async deliver(decisions: Map<Waiter, LeaseDecision>, waiting: Map<string, Waiter[]>, placements: Planned[]) {
    const { settings } = this.options;
    for (const [waiter, decision] of decisions) this.answer(waiter, decision);
    const orphans: string[] = [];
    for (const { placement, job, attemptId, number } of placements) {
      const lease: Lease = {
        attemptId,
        attemptNumber: number,
        jobId: job.id,
        runId: job.runId,
        suite: job.suite,
        tests: job.tests,
        roles: job.roles.map((r) => ({
          role: r.role,
          board: placement.boards.get(r.role)!.name,
          firmware: r.firmware,
          bootCheck: r.bootCheck !== false,
        })),
        seed: Number(job.seed),
        faults: job.faults,
        timeoutMs: job.timeoutMs,
        reruns: job.reruns,
        steps: settings.steps,
      };
      const waiter = this.waiters.get(placement.runnerId)?.find((w) => !w.done && !decisions.has(w));
      if (waiter) this.answer(waiter, { lease, healthCheck: null });
      else orphans.push(attemptId);
    }
    for (const list of waiting.values()) {
      for (const w of list) {
        w.passes++;
        if (w.expired) this.answer(w, NOTHING);
      }
    }
    if (orphans.length > 0) {
      await unlease(this.options.pool, orphans);
      this.cache = undefined;
      this.options.logger.info({ attempts: orphans }, "lease requests went away before their leases were delivered; jobs requeued");
      this.again = true;
    }
  }
}

/** What the planner needs, built once per read rather than once per pass: a pass looks at every cached job. */
function candidate(row: CandidateRow, order: number): Candidate {
  return {
    ...row,
    plan: {
      id: row.id,
      roles: row.roles,
      sameGroup: row.sameGroup,
      avoidBoards: new Set(row.avoid),
      priority: row.priorityClass,
      project: row.projectId,
      order,
    },
  };
}

/** Types of the free boards a plan leaves unused (neither placed nor reserved) on runners that still wait, sorted. */
function idleTypes(runners: readonly RunnerForPlan[], plan: Plan): string[] {
  const used = new Set<string>();
  const placed = new Map<string, number>();
  for (const p of plan.placements) {
    for (const b of p.boards.values()) used.add(b.id);
    placed.set(p.runnerId, (placed.get(p.runnerId) ?? 0) + 1);
  }
  for (const r of plan.reservations.values()) for (const id of r.boards) used.add(id);
  const types = new Set<string>();
  for (const r of runners) {
    if (r.waiting <= (placed.get(r.id) ?? 0)) continue;
    for (const b of r.boards) if (b.free && !used.has(b.id)) types.add(b.type);
  }
  return [...types].sort();
}

/**
 * Takes back leases nobody received (the request timed out or its connection closed while the pass committed):
 * the attempt never started, so it is deleted and its job queued again, as if the pass had not picked it.
 */
async function unlease(pool: pg.Pool, attemptIds: string[]) {
  await onConnection(pool, async (client) => {
    await client.query("BEGIN");
    await client.query(
      `SELECT r.id FROM "Run" r JOIN "Job" j ON j."runId" = r.id JOIN "Attempt" a ON a."jobId" = j.id
       WHERE a.id = ANY($1::uuid[]) ORDER BY r.id FOR UPDATE OF r`,
      [attemptIds],
    );
    const { rows } = await client.query<{ jobId: string }>(
      `DELETE FROM "Attempt" WHERE id = ANY($1::uuid[]) AND status = 'running' RETURNING "jobId"`,
      [attemptIds],
    );
    await client.query(`UPDATE "Job" SET status = 'queued' WHERE id = ANY($1::uuid[]) AND status = 'running'`, [rows.map((r) => r.jobId)]);
    await client.query("COMMIT");
  });
}

async function healthCheckFor(
  db: PrismaClient,
  boards: Pick<BoardRow, "id" | "name" | "type" | "health" | "busy" | "healthMessage">[],
  settings: LeaseSettings,
): Promise<HealthCheck | undefined> {
  // This runs under the pass lock, on every pass while a board waits for its check: one kernel lookup per board
  // type, and the board's message is written only when it changes.
  const kernels = new Map<string, Awaited<ReturnType<typeof newestKernel>>>();
  for (const board of boards.filter((b) => b.health === "unknown" && !b.busy)) {
    if (!kernels.has(board.type)) kernels.set(board.type, await newestKernel(db, board.type));
    const kernel = kernels.get(board.type);
    const message = kernel
      ? `health check started with ${kernel.name} (${kernel.sha256.slice(0, 12)})`
      : `no kernel image for ${board.type} has been uploaded, so the health check cannot run`;
    if (board.healthMessage !== message) await db.board.update({ where: { id: board.id }, data: { healthMessage: message } });
    if (!kernel) continue;
    return {
      board: board.name,
      firmware: [{ name: kernel.name, kind: kernel.kind, sha256: kernel.sha256, size: kernel.size, flash: true }],
      bootTimeoutMs: settings.steps.bootMs,
      flashTimeoutMs: settings.steps.flashMs,
    };
  }
  return undefined;
}

/** The newest kernel image for a board type: named after the type, else any kernel built for it. */
async function newestKernel(db: PrismaClient, type: string) {
  return (
    (await db.artifact.findFirst({ where: { kind: "kernel", name: type }, orderBy: { createdAt: "desc" } })) ??
    (await db.artifact.findFirst({ where: { kind: "kernel", boardType: type }, orderBy: { createdAt: "desc" } }))
  );
}

/**
 * Waits for a scheduling pass in flight (every API process's) and keeps the next one out until the caller's
 * transaction ends: for writers that change what a pass reads about boards (health, presence, tags, group), so a
 * pass never commits a placement on a board that was taken out while it planned.
 */
export async function lockScheduling(tx: Pick<PrismaClient, "$executeRawUnsafe">): Promise<void> {
  await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${PASS_LOCK[0]}, ${PASS_LOCK[1]})`);
}

/**
 * Records a health check's outcome. A pass makes the board `good` and clears its infra error count; a failure
 * counts as an infra error, and after `badAfter` in a row the board is `bad` (taken out until an admin acts).
 */
export async function reportHealth(
  db: PrismaClient,
  runnerId: string,
  boardName: string,
  ok: boolean,
  message: string,
  badAfter: number,
): Promise<BoardHealth | undefined> {
  return db.$transaction(async (tx) => {
    await lockScheduling(tx);
    const board = await tx.board.findUnique({ where: { runnerId_name: { runnerId, name: boardName } } });
    if (!board) return undefined;
    const infraErrors = ok ? 0 : board.infraErrors + 1;
    const health: BoardHealth = ok ? "good" : infraErrors >= badAfter ? "bad" : "unknown";
    // A board an admin took out, or one already `bad`, stays as it is: it comes back through an admin's "check
    // now" (unknown), not through a runner's report.
    if (board.health !== "unknown" && board.health !== "good") return board.health;
    assertTransition("board", board.id, board.health, health);
    await tx.board.update({ where: { id: board.id }, data: { health, infraErrors, healthCheckedAt: new Date(), healthMessage: message } });
    return health;
  });
}
