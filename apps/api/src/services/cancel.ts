/**
 * Cancellation of runs and jobs. A running attempt is ended as `cancelled` at once, which frees its boards and makes
 * the runner's next heartbeat (sent every few hundred ms during an attempt) tell it to stop; queued jobs are
 * cancelled without an attempt. Unfinished tests end as `not_run` with the reason.
 */
import type { JobStatus, RunStatus } from "@tock-hil/protocol";
import type { PrismaClient } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";
import { secondsText } from "./duration-text.ts";
import { waitingReasons } from "./inventory.ts";
import { endAttempt } from "./runner-protocol.ts";
import { lockRun, rollUpRun } from "./runs.ts";
import { assertTransition, isTerminalJob, isTerminalRun } from "./states.ts";

async function cancelJobIn(tx: Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0], jobId: string, reason: string) {
  const job = await tx.job.findUniqueOrThrow({ where: { id: jobId }, include: { attempts: { where: { status: "running" } } } });
  if (isTerminalJob(job.status)) return;
  for (const attempt of job.attempts) {
    await endAttempt(tx, attempt.id, { status: "cancelled", reason: "cancelled", message: reason });
  }
  const fresh = await tx.job.findUniqueOrThrow({ where: { id: jobId } });
  if (!isTerminalJob(fresh.status)) {
    assertTransition("job", jobId, fresh.status, "cancelled");
    await tx.job.update({
      where: { id: jobId },
      data: { status: "cancelled", endReason: "cancelled", endMessage: reason, finishedAt: new Date() },
    });
  }
}

export async function cancelRun(db: PrismaClient, runId: string, by: string): Promise<RunStatus> {
  return db.$transaction(async (tx) => {
    await lockRun(tx, runId);
    const run = await tx.run.findUnique({ where: { id: runId }, include: { jobs: { select: { id: true } } } });
    if (!run) throw notFound("run", runId);
    if (isTerminalRun(run.status)) throw new AppError(ErrorCode.CONFLICT, `run ${runId} already ended as ${run.status}; nothing to cancel`);
    for (const job of run.jobs) await cancelJobIn(tx, job.id, `cancelled by ${by}`);
    if (run.jobs.length === 0) {
      // Cancelled before its jobs were created: the expansion job will find it cancelled and do nothing.
      assertTransition("run", runId, run.status, "cancelled");
      await tx.run.update({ where: { id: runId }, data: { status: "cancelled", finishedAt: new Date(), message: `cancelled by ${by}` } });
    } else {
      await rollUpRun(tx, runId);
      await tx.run.updateMany({ where: { id: runId, message: null }, data: { message: `cancelled by ${by}` } });
    }
    return (await tx.run.findUniqueOrThrow({ where: { id: runId } })).status;
  });
}

export async function cancelJob(db: PrismaClient, jobId: string, by: string): Promise<JobStatus> {
  return db.$transaction(async (tx) => {
    const found = await tx.job.findUnique({ where: { id: jobId }, select: { runId: true } });
    if (!found) throw notFound("job", jobId);
    await lockRun(tx, found.runId);
    const job = await tx.job.findUniqueOrThrow({ where: { id: jobId } });
    if (isTerminalJob(job.status)) throw new AppError(ErrorCode.CONFLICT, `job ${jobId} already ended as ${job.status}; nothing to cancel`);
    await cancelJobIn(tx, jobId, `cancelled by ${by}`);
    await rollUpRun(tx, job.runId);
    return (await tx.job.findUniqueOrThrow({ where: { id: jobId } })).status;
  });
}

/**
 * Ends a job still waiting for boards after its queue timeout, saying why it never started (the same diagnosis a
 * queued job shows in GET /runs/:id). No-op when it got boards, ended or went back to the queue with a new deadline
 * meanwhile (the sweep's read is not locked).
 */
export async function expireQueuedJob(db: PrismaClient, jobId: string, runnerTimeoutMs: number): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const found = await tx.job.findUnique({ where: { id: jobId }, select: { runId: true } });
    if (!found) return false;
    await lockRun(tx, found.runId);
    const job = await tx.job.findUniqueOrThrow({ where: { id: jobId }, include: { _count: { select: { attempts: true } } } });
    if (job.status !== "queued" || !job.queueDeadline || job.queueDeadline.getTime() > Date.now()) return false;
    assertTransition("job", jobId, job.status, "error");
    const why = (await waitingReasons(tx, [job], runnerTimeoutMs)).get(job.id);
    const seconds = secondsText(job.queueTimeoutMs ?? 0);
    const attempts = job._count.attempts;
    const waited = attempts === 0 ? `not started within ${seconds} s` : `not retried within ${seconds} s of its attempt ${attempts} ending`;
    const endMessage = `${waited}: ${why}`;
    await tx.job.update({
      where: { id: jobId },
      data: { status: "error", endReason: "queue_timeout", endMessage, finishedAt: new Date() },
    });
    await rollUpRun(tx, job.runId);
    await tx.run.updateMany({ where: { id: job.runId, message: null }, data: { message: `${job.suite}: queue_timeout: ${endMessage}` } });
    return true;
  });
}

/**
 * The queue-timeout half of the one-second sweep: ends every queued job past its deadline. Deadlines live in
 * Postgres, so a Redis restart or a lost enqueue cannot leave a job waiting forever. Returns the jobs it ended.
 */
export async function expireQueuedJobs(db: PrismaClient, runnerTimeoutMs: number): Promise<string[]> {
  const due = await db.job.findMany({
    where: { status: "queued", queueDeadline: { lte: new Date() } },
    select: { id: true },
    orderBy: { queueDeadline: "asc" },
    take: 100,
  });
  const ended: string[] = [];
  for (const { id } of due) if (await expireQueuedJob(db, id, runnerTimeoutMs)) ended.push(id);
  return ended;
}
