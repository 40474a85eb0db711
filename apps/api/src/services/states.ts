/**
 * Legal state transitions of runs, jobs, attempts and board health (documented in docs/architecture.md). Status
 * writes go through `assertTransition`, so an illegal transition is a bug caught at once rather than a corrupted
 * history; the set-based writes (the allocator's claim, taking back an undelivered lease, the finish batch) are
 * conditional updates from their one legal source state instead.
 */
import type { AttemptStatus, BoardHealth, JobStatus, RunStatus } from "@tock-hil/protocol";

const runTransitions: Record<RunStatus, readonly RunStatus[]> = {
  queued: ["running", "cancelled", "error"],
  running: ["passed", "failed", "error", "cancelled"],
  passed: [],
  failed: [],
  error: [],
  cancelled: [],
};

// A running job goes back to queued when an attempt ends in an infra error and attempts remain (retry).
const jobTransitions: Record<JobStatus, readonly JobStatus[]> = {
  queued: ["running", "cancelled", "error"],
  running: ["queued", "passed", "failed", "error", "cancelled"],
  passed: [],
  failed: [],
  error: [],
  cancelled: [],
};

const attemptTransitions: Record<AttemptStatus, readonly AttemptStatus[]> = {
  running: ["completed", "error", "cancelled"],
  completed: [],
  error: [],
  cancelled: [],
};

// Board health. Only a health check (or a completed attempt) makes a board `good`; a board that was taken out as
// `bad`, or by an admin, comes back only through `unknown` (an admin's "check now"), so a runner's report cannot
// declare it good. Staying in a state is allowed: a report or an admin note may only change the message.
const boardTransitions: Record<BoardHealth, readonly BoardHealth[]> = {
  unknown: ["unknown", "good", "bad", "maintenance", "retired"],
  good: ["good", "unknown", "bad", "maintenance", "retired"],
  bad: ["bad", "unknown", "maintenance", "retired"],
  maintenance: ["maintenance", "unknown", "retired"],
  retired: ["retired", "unknown"],
};

const tables = { run: runTransitions, job: jobTransitions, attempt: attemptTransitions, board: boardTransitions } as const;

export class IllegalTransitionError extends Error {
  constructor(entity: string, id: string, from: string, to: string) {
    super(`illegal ${entity} transition for ${id}: ${from} -> ${to}`);
    this.name = "IllegalTransitionError";
  }
}

export function canTransition<E extends keyof typeof tables>(entity: E, from: string, to: string): boolean {
  const allowed = (tables[entity] as Record<string, readonly string[]>)[from];
  return allowed?.includes(to) ?? false;
}

export function assertTransition<E extends keyof typeof tables>(entity: E, id: string, from: string, to: string): void {
  if (!canTransition(entity, from, to)) throw new IllegalTransitionError(entity, id, from, to);
}

export const isTerminalRun = (s: RunStatus) => runTransitions[s].length === 0;
export const isTerminalJob = (s: JobStatus) => jobTransitions[s].length === 0;

/**
 * A run's final status from its jobs' final statuses. Cancellation wins (someone stopped it on purpose), then a
 * test failure (the signal developers need), then an infra error; passed only when every job passed.
 */
export function runOutcome(jobs: readonly JobStatus[]): RunStatus {
  if (jobs.includes("cancelled")) return "cancelled";
  if (jobs.includes("failed")) return "failed";
  if (jobs.includes("error")) return "error";
  return "passed";
}
