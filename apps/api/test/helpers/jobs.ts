/** Inserts runs and jobs directly (bypassing planning), so scheduler tests control roles, priorities and projects. */
import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../../src/db.ts";

export type TestJob = {
  boards: number;
  boardType?: string;
  priority?: number;
  project?: string;
  tests?: string[];
  timeoutMs?: number;
  reruns?: number;
  sameGroup?: boolean;
  /** How long ago it was queued (ms; default now). */
  ageMs?: number;
};

export async function insertJob(db: PrismaClient, job: TestJob): Promise<{ runId: string; jobId: string }> {
  const project = await db.project.upsert({
    where: { name: job.project ?? "default" },
    update: {},
    create: { name: job.project ?? "default" },
  });
  const roles = Array.from({ length: job.boards }, (_, i) => ({
    role: `r${i}`,
    boardType: job.boardType ?? "bench",
    tags: [],
    firmware: [],
  }));
  const run = await db.run.create({
    data: {
      projectId: project.id,
      trigger: "manual",
      seed: 1n,
      priority: job.priority ?? 100,
      parameters: { suites: ["bench"], boards: [job.boardType ?? "bench"], faults: null, firmware: {}, plan: [] },
    },
  });
  const created = await db.job.create({
    data: {
      id: randomUUID(),
      runId: run.id,
      projectId: project.id,
      priority: job.priority ?? 100,
      suite: "bench",
      tests: job.tests ?? [],
      roles,
      timeoutMs: job.timeoutMs ?? 60_000,
      reruns: job.reruns ?? 0,
      sameGroup: job.sameGroup ?? false,
      maxAttempts: 1,
      ...(job.ageMs !== undefined ? { createdAt: new Date(Date.now() - job.ageMs) } : {}),
    },
  });
  return { runId: run.id, jobId: created.id };
}

/** `count` one-job runs like insertJob's, in two statements (benchmarks queue thousands). */
export async function insertJobs(db: PrismaClient, count: number, job: TestJob): Promise<void> {
  const project = await db.project.upsert({
    where: { name: job.project ?? "default" },
    update: {},
    create: { name: job.project ?? "default" },
  });
  const roles = Array.from({ length: job.boards }, (_, i) => ({
    role: `r${i}`,
    boardType: job.boardType ?? "bench",
    tags: [],
    firmware: [],
  }));
  const runIds = Array.from({ length: count }, () => randomUUID());
  // Distinct creation times keep the queue order defined (and equal to the insertion order).
  const t0 = Date.now() - count - (job.ageMs ?? 0);
  await db.run.createMany({
    data: runIds.map((id, i) => ({
      id,
      projectId: project.id,
      trigger: "manual" as const,
      seed: 1n,
      priority: job.priority ?? 100,
      createdAt: new Date(t0 + i),
      parameters: { suites: ["bench"], boards: [job.boardType ?? "bench"], faults: null, firmware: {}, plan: [] },
    })),
  });
  await db.job.createMany({
    data: runIds.map((runId, i) => ({
      id: randomUUID(),
      runId,
      projectId: project.id,
      priority: job.priority ?? 100,
      suite: "bench",
      tests: job.tests ?? [],
      roles,
      timeoutMs: job.timeoutMs ?? 60_000,
      reruns: job.reruns ?? 0,
      sameGroup: job.sameGroup ?? false,
      maxAttempts: 1,
      createdAt: new Date(t0 + i),
    })),
  });
}
