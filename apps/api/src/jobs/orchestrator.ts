/**
 * BullMQ side of the API: one queue for orchestration work, one worker processing it, and a job scheduler for the
 * periodic runner reaper. Postgres stays the source of truth: every handler re-reads state and is idempotent, so a
 * redelivered or duplicated job does no harm.
 */
import { Queue, Worker } from "bullmq";
import type { Job } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { PrismaClient } from "../db.ts";
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
};

export type Orchestrator = {
  enqueue<N extends JobName>(name: N, payload: JobPayload<N>, options?: { delay?: number; jobId?: string }): Promise<void>;
  /** Re-enqueues work Redis may have lost (e.g. after a Redis restart): runs still waiting for expansion. */
  reconcile(): Promise<void>;
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
};

type Handlers = { [N in JobName]: (payload: JobPayload<N>) => Promise<void> };

export async function createOrchestrator(options: OrchestratorOptions): Promise<Orchestrator> {
  const { prisma, logger, workSignal } = options;
  // Producer connection fails fast instead of queueing commands while Redis is down (BullMQ production guide);
  // the worker's connection must retry forever (maxRetriesPerRequest: null).
  const producer = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const consumer = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
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
  worker.on("failed", (job, err) => logger.error({ err, job: job?.name, jobId: job?.id }, "orchestrator job failed"));

  await queue.upsertJobScheduler(
    "hil.runners.reap",
    { every: Math.max(500, Math.min(options.heartbeatIntervalMs, options.runnerTimeoutMs / 2)) },
    { name: "hil.runners.reap", data: {}, opts: jobCatalog["hil.runners.reap"].options },
  );

  await queue.upsertJobScheduler(
    "hil.attempts.sweep",
    { every: 1000 },
    { name: "hil.attempts.sweep", data: {}, opts: jobCatalog["hil.attempts.sweep"].options },
  );

  const orchestrator: Orchestrator = {
    queue,
    use(extra) {
      Object.assign(handlers, extra);
    },
    async upsertScheduler(id, repeat, name, payload) {
      const entry = jobCatalog[name];
      await queue.upsertJobScheduler(id, repeat, { name, data: entry.payload.parse(payload), opts: entry.options });
    },
    async removeScheduler(id) {
      await queue.removeJobScheduler(id);
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
      for (const runId of await runsAwaitingExpansion(prisma)) {
        await orchestrator.enqueue("hil.run.expand", { runId }, { jobId: `expand-${runId}` });
      }
    },
    async ping() {
      await producer.ping();
    },
    async close() {
      await worker.close();
      await queue.close();
      producer.disconnect();
      consumer.disconnect();
    },
  };
  return orchestrator;
}
