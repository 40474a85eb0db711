/**
 * The one catalog of background jobs. Each entry: a dotted id, a zod payload schema (validated when enqueued and
 * again when dequeued) and its BullMQ options. Handlers live in handlers.ts. Job data never holds secrets.
 */
import { z } from "zod";
import type { JobsOptions } from "bullmq";

export const ORCHESTRATOR_QUEUE = "orchestrator";

export const jobCatalog = {
  /**
   * Creates a run's jobs from its plan; idempotent, keyed by run id. Its retries ride out about a minute of
   * Postgres being away (0.5 s doubling, eight tries); `hil.runs.reconcile` picks up whatever outlives that.
   */
  "hil.run.expand": {
    payload: z.object({ runId: z.string().uuid() }),
    options: { attempts: 8, backoff: { type: "exponential", delay: 500 } } satisfies JobsOptions,
  },
  /**
   * Periodic (HIL_RECONCILE_INTERVAL_MS, 15 s): runs still queued without jobs whose expansion is not pending (Redis lost it, or it
   * failed for good through a long database outage) are expanded again, so no run stays queued forever.
   */
  "hil.runs.reconcile": {
    payload: z.object({}),
    options: { attempts: 1 } satisfies JobsOptions,
  },
  /**
   * Periodic (every second): ends attempts that outlived their job's timeout plus HIL_ATTEMPT_GRACE_MS as
   * `timeout`, and queued jobs past their queue deadline as `queue_timeout`. One sweep over Postgres rather than a
   * delayed job per attempt or job: no Redis write on the lease path, nothing to clean up for the many that end in
   * time, and no timeout lost with Redis.
   */
  "hil.attempts.sweep": {
    payload: z.object({}),
    options: { attempts: 1 } satisfies JobsOptions,
  },
  /** Periodic: ends attempts of runners that stopped heartbeating. */
  "hil.runners.reap": {
    payload: z.object({}),
    options: { attempts: 1 } satisfies JobsOptions,
  },
  // ---- GitHub integration and nightly runs (handlers in github/plugin.ts) ----
  /** Fires a project's nightly: a run of its branch head, skipped when the branch has not moved (unless forced). */
  "hil.nightly.fire": {
    payload: z.object({ project: z.string().min(1), force: z.boolean().default(false) }),
    options: { attempts: 3, backoff: { type: "exponential", delay: 2000 } } satisfies JobsOptions,
  },
  /** Periodic: reports finished runs (check run or status, tracking issues, outgoing webhooks); idempotent. */
  "hil.runs.report": {
    payload: z.object({}),
    options: { attempts: 1 } satisfies JobsOptions,
  },
} as const;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]["payload"]>;
