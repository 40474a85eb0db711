/**
 * Writes finished runs with attempts, board assignments, results and serial logs directly, so history, regression,
 * flaky and export tests control every status and commit without running boards.
 */
import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../../src/db.ts";

export type SeedResult = {
  test: string;
  status: "pass" | "fail" | "error" | "skip" | "not_run";
  try?: number;
  message?: string;
  durationMs?: number;
  measurements?: Record<string, number>;
  logSpan?: { role: string; start: number; end: number };
};
export type SeedAttempt = {
  status?: "completed" | "error" | "cancelled" | "running";
  endReason?: string;
  /** role -> board name */
  boards: Record<string, string>;
  results: SeedResult[];
  /** Serial chunks in arrival order (any roles interleaved), each received 1 ms after the previous one. */
  logs?: { role: string; text: string }[];
};
export type SeedJob = {
  suite: string;
  tests: string[];
  status: "queued" | "running" | "passed" | "failed" | "error" | "cancelled";
  endReason?: string;
  attempts: SeedAttempt[];
};
export type SeedRun = {
  project?: string;
  trigger?: "manual" | "api" | "nightly" | "push" | "pull_request";
  ref: string;
  createdAt: Date;
  status?: "queued" | "running" | "passed" | "failed" | "error" | "cancelled";
  jobs: SeedJob[];
};

/** One runner with the named boards (all good and present); returns name -> board id. */
export async function seedLab(db: PrismaClient, boards: string[], runner = "lab-1"): Promise<Map<string, string>> {
  const r = await db.runner.create({ data: { name: runner, tokenHash: randomUUID(), lastSeenAt: new Date() } });
  const ids = new Map<string, string>();
  for (const name of boards) {
    const b = await db.board.create({ data: { runnerId: r.id, name, type: "nrf52840dk", health: "good", lastSeenAt: new Date() } });
    ids.set(name, b.id);
  }
  return ids;
}

export async function seedRun(
  db: PrismaClient,
  boards: Map<string, string>,
  run: SeedRun,
): Promise<{ runId: string; jobIds: string[]; attemptIds: string[][] }> {
  const project = await db.project.upsert({
    where: { name: run.project ?? "default" },
    update: {},
    create: { name: run.project ?? "default" },
  });
  const suites = [...new Set(run.jobs.map((j) => j.suite))];
  const created = await db.run.create({
    data: {
      projectId: project.id,
      trigger: run.trigger ?? "nightly",
      ref: run.ref,
      seed: 1n,
      status: run.status ?? "passed",
      createdAt: run.createdAt,
      startedAt: run.createdAt,
      finishedAt: run.status === "running" ? null : new Date(run.createdAt.getTime() + 60_000),
      parameters: { suites, boards: ["nrf52840dk"], faults: null, firmware: {}, plan: [] },
    },
  });
  const jobIds: string[] = [];
  const attemptIds: string[][] = [];
  let clock = run.createdAt.getTime();
  for (const job of run.jobs) {
    const j = await db.job.create({
      data: {
        runId: created.id,
        projectId: project.id,
        suite: job.suite,
        tests: job.tests,
        roles: [],
        status: job.status,
        endReason: job.endReason ?? null,
        timeoutMs: 60_000,
        createdAt: new Date(clock++),
        finishedAt: job.status === "running" || job.status === "queued" ? null : new Date(run.createdAt.getTime() + 50_000),
      },
    });
    jobIds.push(j.id);
    const ids: string[] = [];
    for (const [n, attempt] of job.attempts.entries()) {
      const a = await db.attempt.create({
        data: {
          jobId: j.id,
          number: n + 1,
          status: attempt.status ?? "completed",
          endReason: attempt.endReason ?? (attempt.status === "running" ? null : "completed"),
          startedAt: new Date(clock++),
          finishedAt: attempt.status === "running" ? null : new Date(run.createdAt.getTime() + 40_000),
          boards: { create: Object.entries(attempt.boards).map(([role, board]) => ({ role, boardId: boards.get(board)! })) },
        },
      });
      ids.push(a.id);
      for (const r of attempt.results) {
        await db.testResult.create({
          data: {
            attemptId: a.id,
            jobId: j.id,
            suite: job.suite,
            test: r.test,
            try: r.try ?? 1,
            status: r.status,
            durationMs: r.durationMs ?? 100,
            message: r.message ?? null,
            measurements: r.measurements ?? undefined,
            logRole: r.logSpan?.role ?? null,
            logStart: r.logSpan?.start ?? null,
            logEnd: r.logSpan?.end ?? null,
            createdAt: new Date(clock++),
          },
        });
      }
      const logs = new Map<string, { id: string; size: number }>();
      for (const { role, text } of attempt.logs ?? []) {
        let log = logs.get(role);
        if (!log) {
          const row = await db.serialLog.create({ data: { attemptId: a.id, role, boardId: boards.get(attempt.boards[role]!)! } });
          log = { id: row.id, size: 0 };
          logs.set(role, log);
        }
        const data = Buffer.from(text);
        await db.serialChunk.create({
          data: { logId: log.id, offset: log.size, data: new Uint8Array(data), receivedAt: new Date(clock++) },
        });
        log.size += data.length;
        await db.serialLog.update({ where: { id: log.id }, data: { size: log.size } });
      }
    }
    attemptIds.push(ids);
  }
  return { runId: created.id, jobIds, attemptIds };
}

export const night = (i: number) => new Date(Date.UTC(2026, 9, 1 + i, 2, 0, 0));
