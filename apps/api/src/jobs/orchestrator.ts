/**
 * BullMQ side of the API: one queue for orchestration work, one worker processing it, and a job scheduler for the
 * periodic runner reaper. Postgres stays the source of truth: every handler re-reads state and is idempotent, so a
 * redelivered or duplicated job does no harm.
 */
import { Queue, Worker } from "bullmq";
import type { Job, JobsOptions } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { PrismaClient } from "../db.ts";
import { isDatabaseUnavailable } from "../errors.ts";
import { expandRun, runsAwaitingExpansion } from "../services/runs.ts";
import { expireQueuedJobs } from "../services/cancel.ts";
import { reapLostRunners, timeOutAttempts } from "../services/runner-protocol.ts";
import type { WorkSignal } from "../work-signal.ts";
import { jobCatalog, ORCHESTRATOR_QUEUE } from "./catalog.ts";
import type { JobName, JobPayload } from "./catalog.ts";

export type OrchestratorOptions = {
  prisma: PrismaClient;
  redisUrl: string;
  prefix: string;
  logger: Logger;
  workSignal: WorkSignal;
  maxAttempts: number;
  queueTimeoutMs: number;
  boardBadAfter: number;
  heartbeatIntervalMs: number;
  runnerTimeoutMs: number;
  /** Slack beyond a job's timeout before the sweep ends its attempt (HIL_ATTEMPT_GRACE_MS). */
  attemptGraceMs?: number;
  /** How often lost or failed run expansions are redone (HIL_RECONCILE_INTERVAL_MS). */
  reconcileIntervalMs?: number;
};

export type Orchestrator = {
  enqueue<N extends JobName>(name: N, payload: JobPayload<N>, options?: { delay?: number; jobId?: string }): Promise<void>;
  /**
   * Expands again the runs still waiting for expansion whose expand job is gone (Redis restarted) or failed for
   * good (a long database outage); returns their ids. Runs at boot and every HIL_RECONCILE_INTERVAL_MS.
   */
  reconcile(): Promise<string[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The BullMQ queue itself, read-only uses: queue-depth metrics and the /admin/queues board (issue 6). */
  queue: Queue;
  /**
   * Installs handlers for jobs other modules own (the GitHub integration's, registered by github/plugin.ts).
   * Such a job arriving before its handler is installed fails and is retried by its backoff.
   */
  use(extra: Partial<Handlers>): void;
  /** Creates or updates a repeating job (BullMQ job scheduler), e.g. a project's nightly cron. */
  upsertScheduler<N extends JobName>(
    id: string,
    repeat: { pattern: string; tz?: string } | { every: number },
    name: N,
    payload: JobPayload<N>,
  ): Promise<void>;
  removeScheduler(id: string): Promise<void>;
  /** Ids of the job schedulers that exist (nightly schedules are named `nightly:<project>`). */
  schedulerIds(): Promise<string[]>;
  /**
   * Calls `listener` after the Redis connection came back and the schedulers were restored: for work that must
   * catch up on what Redis may have lost meanwhile (the nightlies that were due while it was away).
   */
  onReconnected(listener: () => Promise<unknown>): void;
};

type Handlers = { [N in JobName]: (payload: JobPayload<N>) => Promise<void> };

export async function createOrchestrator(options: OrchestratorOptions): Promise<Orchestrator> {
  const { prisma, logger, workSignal } = options;
  // Producer connection fails fast instead of queueing commands while Redis is down (BullMQ production guide);
  // the worker's connection must retry forever (maxRetriesPerRequest: null).
  // Named, so an operator (or a test) can tell this process's connections apart in CLIENT LIST.
  const name = (role: string) => `hil-api:${options.prefix}:${role}`.replace(/\s/g, "_");
  const producer = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: name("producer") });
  const consumer = new Redis(options.redisUrl, { maxRetriesPerRequest: null, connectionName: name("worker") });
  producer.on("error", (err) => logger.warn({ err }, "redis (producer) error"));
  consumer.on("error", (err) => logger.warn({ err }, "redis (worker) error"));
  await new Promise<void>((resolve, reject) => {
    if (producer.status === "ready") return resolve();
    producer.once("ready", () => resolve());
    producer.once("error", reject);
  });

  const queue = new Queue(ORCHESTRATOR_QUEUE, {
    connection: producer,
    prefix: options.prefix,
    defaultJobOptions: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 5000 } },
  });

  const handlers: Partial<Handlers> = {
    "hil.run.expand": async ({ runId }) => {
      const jobIds = await prisma.$transaction((tx) =>
        expandRun(tx, runId, { maxAttempts: options.maxAttempts, queueTimeoutMs: options.queueTimeoutMs }),
      );
      if (jobIds.length === 0) return;
      logger.info({ runId, jobs: jobIds.length }, "run expanded into jobs");
      workSignal.notify();
    },
    "hil.attempts.sweep": async () => {
      const ended = await timeOutAttempts(prisma, options.attemptGraceMs ?? 60_000, options.boardBadAfter);
      for (const e of ended) logger.warn(e, "attempt timed out");
      if (ended.length > 0) workSignal.notify();
      for (const jobId of await expireQueuedJobs(prisma, options.runnerTimeoutMs))
        logger.warn({ jobId, queueTimeoutMs: options.queueTimeoutMs }, "job expired in the queue");
    },
    "hil.runs.reconcile": async () => {
      const runs = await orchestrator.reconcile();
      if (runs.length > 0) logger.warn({ runs }, "expanding again runs whose expansion was lost or failed");
    },
    "hil.runners.reap": async () => {
      const ended = await reapLostRunners(prisma, options.runnerTimeoutMs, options.boardBadAfter);
      if (ended.length > 0) {
        logger.warn({ attempts: ended }, "ended attempts of lost runners");
        workSignal.notify();
      }
    },
  };

  const worker = new Worker(
    ORCHESTRATOR_QUEUE,
    async (job: Job) => {
      const name = job.name as JobName;
      const entry = jobCatalog[name];
      if (!entry) throw new Error(`unknown job ${job.name}`);
      const payload = entry.payload.parse(job.data);
      const handler = handlers[name] as ((p: typeof payload) => Promise<void>) | undefined;
      if (!handler) throw new Error(`no handler installed for ${job.name} yet`);
      await handler(payload);
    },
    { connection: consumer, prefix: options.prefix, concurrency: 8 },
  );
  worker.on("error", (err) => logger.error({ err }, "orchestrator worker error"));
  worker.on("failed", (job, err) => {
    const fields = { err, job: job?.name, jobId: job?.id, attempt: job?.attemptsMade };
    // A try that will be retried, or a database outage (periodic jobs simply run again), is worth a warning;
    // only a job that gave up for another reason is an error someone should read.
    const retried = job !== undefined && job.attemptsMade < (job.opts.attempts ?? 1);
    if (isDatabaseUnavailable(err)) logger.warn(fields, "orchestrator job failed: the database is unavailable");
    else if (retried) logger.warn(fields, "orchestrator job failed; it will be retried");
    else logger.error(fields, "orchestrator job failed");
  });

  // Every job scheduler this process keeps, so they can be put back when Redis comes back without them (a
  // restart without persistence, a flush): the sweep, the reaper and the nightlies live only in Redis.
  type Repeat = Parameters<Queue["upsertJobScheduler"]>[1];
  type Template = { name: JobName; data: unknown; opts: JobsOptions };
  const schedulers = new Map<string, { repeat: Repeat; template: Template }>();
  const keepScheduler = async (id: string, repeat: Repeat, template: Template) => {
    schedulers.set(id, { repeat, template });
    await queue.upsertJobScheduler(id, repeat, template);
  };
  const scheduled = <N extends JobName>(jobName: N): Template => ({ name: jobName, data: {}, opts: jobCatalog[jobName].options });

  await keepScheduler(
    "hil.runners.reap",
    { every: Math.max(500, Math.min(options.heartbeatIntervalMs, options.runnerTimeoutMs / 2)) },
    scheduled("hil.runners.reap"),
  );
  await keepScheduler("hil.attempts.sweep", { every: 1000 }, scheduled("hil.attempts.sweep"));
  await keepScheduler("hil.runs.reconcile", { every: options.reconcileIntervalMs ?? 15_000 }, scheduled("hil.runs.reconcile"));

  // ioredis reconnects by itself and says "ready" each time; after the first, Redis may have come back empty.
  // Upserting is idempotent, so a reconnect to a Redis that kept everything costs a few commands and no job.
  let closing = false;
  const reconnectListeners: (() => Promise<unknown>)[] = [];
  const restore = async (tries = 0): Promise<void> => {
    if (closing) return;
    try {
      for (const [id, s] of schedulers) await queue.upsertJobScheduler(id, s.repeat, s.template);
      const runs = await orchestrator.reconcile();
      logger.info({ schedulers: [...schedulers.keys()], runs }, "redis reconnected: job schedulers restored, lost run expansions enqueued");
      for (const listener of reconnectListeners)
        await listener().catch((err: unknown) => logger.warn({ err }, "catching up after redis reconnected failed"));
    } catch (err) {
      if (tries >= 30 || closing) return logger.error({ err }, "could not restore the job schedulers after redis reconnected");
      logger.warn({ err, tries }, "could not restore the job schedulers yet; retrying");
      await new Promise((r) => setTimeout(r, 1000).unref());
      return restore(tries + 1);
    }
  };
  producer.on("ready", () => void restore());

  const orchestrator: Orchestrator = {
    queue,
    use(extra) {
      Object.assign(handlers, extra);
    },
    async upsertScheduler(id, repeat, jobName, payload) {
      const entry = jobCatalog[jobName];
      await keepScheduler(id, repeat, { name: jobName, data: entry.payload.parse(payload), opts: entry.options });
    },
    async removeScheduler(id) {
      schedulers.delete(id);
      await queue.removeJobScheduler(id);
    },
    onReconnected(listener) {
      reconnectListeners.push(listener);
    },
    async schedulerIds() {
      const all = await queue.getJobSchedulers(0, -1);
      return all.map((s) => s.key);
    },
    async enqueue(name, payload, opts = {}) {
      const entry = jobCatalog[name];
      await queue.add(name, entry.payload.parse(payload), {
        ...entry.options,
        ...(opts.delay !== undefined ? { delay: opts.delay } : {}),
        ...(opts.jobId !== undefined ? { jobId: opts.jobId } : {}),
      });
    },
    async reconcile() {
      const again: string[] = [];
      for (const runId of await runsAwaitingExpansion(prisma)) {
        const jobId = `expand-${runId}`;
        const existing = await queue.getJob(jobId);
        const state = existing ? await existing.getState() : "unknown";
        // Any other state (waiting, delayed, active) means its own tries are still going. A failed or completed one
        // is replaced (BullMQ ignores a job id it still holds): expansion is idempotent, so at worst it finds the
        // jobs already made.
        if (state !== "failed" && state !== "completed" && state !== "unknown") continue;
        if (existing) await existing.remove();
        await orchestrator.enqueue("hil.run.expand", { runId }, { jobId });
        again.push(runId);
      }
      return again;
    },
    async ping() {
      await producer.ping();
    },
    async close() {
      closing = true;
      await worker.close();
      await queue.close();
      producer.disconnect();
      consumer.disconnect();
    },
  };
  return orchestrator;
}
