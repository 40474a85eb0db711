/**
 * Prometheus metrics of the lab, derived from Postgres (the source of truth) and the BullMQ queue at scrape time.
 * Durations and infra errors are counted by reading what finished since the previous scrape (a watermark per
 * series), so no code on the run path has to remember to observe anything, and every API process exports the
 * same figures. Counters start at the process's start: use rate()/increase() as with any counter.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Db } from "../db.ts";

export type QueueCounts = () => Promise<Record<string, number>>;

const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

export function createMetrics(db: Db, options: { queueCounts: QueueCounts; runnerTimeoutMs: number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "hil_api_" });
  const started = new Date();
  let jobsSince = started;
  let testsSince = started;
  let attemptsSince = started;

  new Gauge({
    name: "hil_queue_jobs",
    help: "Jobs in the BullMQ orchestration queue by state",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      this.reset();
      const counts: Record<string, number> = await options.queueCounts().catch(() => ({}));
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "hil_jobs",
    help: "HIL jobs (suite on boards) by status: queued ones are waiting for boards",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db.$queryRaw<{ status: string; n: bigint }[]>`
        SELECT status::text, count(*) AS n FROM "Job" WHERE status IN ('queued', 'running') GROUP BY status`;
      for (const s of ["queued", "running"]) this.set({ status: s }, Number(rows.find((r) => r.status === s)?.n ?? 0));
    },
  });
  new Gauge({
    name: "hil_boards",
    help: "Present boards by type, health and state (idle, busy, offline)",
    labelNames: ["type", "health", "state"],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db.$queryRaw<{ type: string; health: string; state: string; n: bigint }[]>`
        SELECT b.type, b.health::text AS health,
          CASE WHEN r."lastSeenAt" IS NULL OR r."lastSeenAt" < now() - ${options.runnerTimeoutMs} * interval '1 millisecond' THEN 'offline'
               WHEN EXISTS (SELECT 1 FROM "AttemptBoard" ab JOIN "Attempt" a ON a.id = ab."attemptId"
                            WHERE ab."boardId" = b.id AND a.status = 'running') THEN 'busy'
               ELSE 'idle' END AS state,
          count(*) AS n
        FROM "Board" b JOIN "Runner" r ON r.id = b."runnerId" WHERE b.present GROUP BY 1, 2, 3`;
      for (const r of rows) this.set({ type: r.type, health: r.health, state: r.state }, Number(r.n));
    },
  });
  new Gauge({
    name: "hil_board_consecutive_infra_errors",
    help: "Infra errors in a row per board (reset by a passing health check or a completed attempt)",
    labelNames: ["board", "runner"],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db.board.findMany({
        where: { present: true },
        select: { name: true, infraErrors: true, runner: { select: { name: true } } },
      });
      for (const b of rows) this.set({ board: b.name, runner: b.runner.name }, b.infraErrors);
    },
  });

  const jobDuration = new Histogram({
    name: "hil_job_duration_seconds",
    help: "Wall time of finished HIL jobs from creation to end, by suite and status",
    labelNames: ["suite", "status"],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const testDuration = new Histogram({
    name: "hil_test_duration_seconds",
    help: "Duration of reported test steps, by suite and status",
    labelNames: ["suite", "status"],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const infraErrors = new Counter({
    name: "hil_infra_errors_total",
    help: "Attempts that ended in an infra error, by reason (flash_failed, runner_lost, timeout, ...)",
    labelNames: ["reason"],
    registers: [registry],
  });

  /** Observes everything that finished since the last scrape. */
  async function catchUp() {
    const now = new Date();
    const jobs = await db.job.findMany({
      where: { finishedAt: { gt: jobsSince, lte: now } },
      select: { suite: true, status: true, createdAt: true, finishedAt: true },
    });
    for (const j of jobs)
      jobDuration.observe({ suite: j.suite, status: j.status }, (j.finishedAt!.getTime() - j.createdAt.getTime()) / 1000);
    jobsSince = now;
    const tests = await db.testResult.findMany({
      where: { createdAt: { gt: testsSince, lte: now } },
      select: { suite: true, status: true, durationMs: true },
    });
    for (const t of tests) testDuration.observe({ suite: t.suite, status: t.status }, t.durationMs / 1000);
    testsSince = now;
    const errored = await db.attempt.groupBy({
      by: ["endReason"],
      where: { status: "error", finishedAt: { gt: attemptsSince, lte: now } },
      _count: { _all: true },
    });
    for (const e of errored) infraErrors.inc({ reason: e.endReason ?? "unknown" }, e._count._all);
    attemptsSince = now;
  }

  return {
    contentType: registry.contentType,
    async render(): Promise<string> {
      await catchUp();
      return registry.metrics();
    },
  };
}
