/**
 * The runner daemon: announces its boards, heartbeats, long-polls for work, runs one attempt at a time and
 * finishes it. It survives API restarts (every call retries with backoff) and shuts down in two stages: the first
 * signal stops leasing and gives the current attempt a grace period to end, then it is aborted and reported as
 * `runner_shutdown` so the API can retry it elsewhere at once.
 */
import type { Lab, Suite } from "@tock-hil/board";
import type { HealthCheck, Lease } from "@tock-hil/protocol";
import type { Logger } from "pino";
import { ApiError } from "./api-client.ts";
import type { ApiClient } from "./api-client.ts";
import { runAttempt } from "./attempt-runner.ts";
import type { FirmwareCache } from "./firmware-cache.ts";
import { runHealthCheck } from "./health-check.ts";
import type { LoadedLabConfig } from "./lab-config.ts";

const ATTEMPT_HEARTBEAT_MS = 500;

export type AgentOptions = {
  api: ApiClient;
  lab: Lab;
  config: LoadedLabConfig;
  cache: FirmwareCache;
  suites: ReadonlyMap<string, Suite>;
  logger: Logger;
  leaseWaitMs?: number;
};

export class Agent {
  private readonly stopController = new AbortController();
  private current: { lease: Lease; controller: AbortController } | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatIntervalMs = 5_000;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: AgentOptions) {}

  async start(): Promise<void> {
    const { api, config, logger } = this.options;
    const synced = await api.syncBoards(
      config.boards.map((b) => ({ name: b.name, type: b.type, tags: b.tags, ...(b.group ? { group: b.group } : {}) })),
      this.stopController.signal,
    );
    this.heartbeatIntervalMs = synced.heartbeatIntervalMs;
    if (synced.orphanedAttempts.length > 0)
      logger.warn(
        { attempts: synced.orphanedAttempts },
        "the API had attempts running on this runner from before a restart; they were ended",
      );
    logger.info({ boards: synced.boards.map((b) => `${b.name} (${b.type}, ${b.health})`) }, "boards announced");
    this.scheduleHeartbeat();
    this.loop = this.leaseLoop();
  }

  private scheduleHeartbeat() {
    // During an attempt, beat fast: the heartbeat answer is how a cancellation reaches the runner, and a cancelled
    // job must stop within 2 seconds.
    const interval = this.current ? Math.min(this.heartbeatIntervalMs, ATTEMPT_HEARTBEAT_MS) : this.heartbeatIntervalMs;
    this.heartbeatTimer = setTimeout(() => {
      void this.beat().finally(() => {
        if (!this.stopController.signal.aborted || this.current) this.scheduleHeartbeat();
      });
    }, interval);
  }

  private async beat() {
    const current = this.current;
    try {
      const res = await this.options.api.heartbeat(current ? [current.lease.attemptId] : []);
      if (current && res.cancel.includes(current.lease.attemptId) && this.current === current) {
        this.options.logger.warn({ attemptId: current.lease.attemptId }, "the API cancelled the current attempt; stopping it");
        current.controller.abort("cancelled");
      }
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, "heartbeat failed; will retry");
    }
  }

  private async leaseLoop() {
    const { api, logger } = this.options;
    const stop = this.stopController.signal;
    let failures = 0;
    while (!stop.aborted) {
      let answer: { lease: Lease | null; healthCheck: HealthCheck | null };
      try {
        if (failures > 0) await this.reconcile();
        answer = await api.lease(this.options.leaseWaitMs ?? 10_000, stop);
        if (failures > 0) logger.info({ failures }, "the API answers again; leasing resumed");
        failures = 0;
      } catch (err) {
        if (stop.aborted) break;
        failures++;
        // Capped exponential backoff on top of the client's own retries: an API that is down for an hour gets a
        // request every 30 s, not a storm.
        const delayMs = Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5));
        logger.warn({ err: (err as Error).message, failures, delayMs }, "leasing failed; retrying");
        await new Promise((r) => setTimeout(r, delayMs));
        continue;
      }
      if (answer.healthCheck) await this.runHealthCheck(answer.healthCheck);
      else if (answer.lease) await this.runLease(answer.lease);
    }
  }

  /**
   * After the API was unreachable: a lease answer may have been lost on the way (the API then believes this runner
   * runs an attempt it never received). Announcing the boards again, while idle, makes the API end such attempts
   * as runner_lost, so their jobs are retried at once instead of waiting for the job timeout.
   */
  private async reconcile() {
    const { api, config, logger } = this.options;
    const synced = await api.syncBoards(
      config.boards.map((b) => ({ name: b.name, type: b.type, tags: b.tags, ...(b.group ? { group: b.group } : {}) })),
      this.stopController.signal,
    );
    if (synced.orphanedAttempts.length > 0)
      logger.warn({ attempts: synced.orphanedAttempts }, "the API believed this runner ran attempts it never received; they were ended");
  }

  private async runHealthCheck(check: HealthCheck) {
    const { api, logger } = this.options;
    logger.info({ board: check.board, firmware: check.firmware.map((f) => f.name) }, "health check started");
    const outcome = await runHealthCheck(check, this.options.lab, this.options.cache, this.stopController.signal);
    if (this.stopController.signal.aborted && !outcome.ok) {
      // Stopped half-way by a shutdown: that says nothing about the board, so it must not count as an infra error.
      logger.info({ board: check.board }, "health check interrupted by shutdown; not reported");
      return;
    }
    try {
      const res = await api.reportHealth(check.board, outcome);
      logger[outcome.ok ? "info" : "warn"](
        { board: check.board, ok: outcome.ok, health: res.health, message: outcome.message },
        "health check done",
      );
    } catch (err) {
      logger.error({ err, board: check.board }, "could not report the health check");
    }
  }

  private async runLease(lease: Lease) {
    const { api, logger } = this.options;
    const controller = new AbortController();
    this.current = { lease, controller };
    // Switch to fast heartbeats now rather than after the current (slow) interval.
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.scheduleHeartbeat();
    logger.info(
      { attemptId: lease.attemptId, runId: lease.runId, suite: lease.suite, roles: lease.roles.map((r) => `${r.role}=${r.board}`) },
      "attempt leased",
    );
    const timeout = setTimeout(() => controller.abort("timeout"), lease.timeoutMs);
    try {
      let finish = await runAttempt(
        lease,
        { api, lab: this.options.lab, cache: this.options.cache, suites: this.options.suites, logger },
        controller.signal,
      );
      if (controller.signal.reason === "timeout")
        finish = { status: "error", reason: "timeout", message: `the suite did not finish within ${lease.timeoutMs} ms` };
      try {
        await api.finish(lease.attemptId, finish);
      } catch (err) {
        // The API already ended it (cancelled, timed out, runner considered lost): nothing left to report.
        if (err instanceof ApiError && (err.code === "ATTEMPT_NOT_RUNNING" || err.status === 404))
          logger.info({ attemptId: lease.attemptId }, err.message);
        else logger.error({ err, attemptId: lease.attemptId }, "could not report the end of the attempt");
      }
    } finally {
      clearTimeout(timeout);
      this.current = undefined;
    }
  }

  /** Stops leasing; gives the current attempt `graceMs` to finish, then aborts it as runner_shutdown. */
  async stop(graceMs: number): Promise<void> {
    this.stopController.abort("runner_shutdown");
    const current = this.current;
    if (current) {
      this.options.logger.info({ attemptId: current.lease.attemptId, graceMs }, "waiting for the current attempt before stopping");
      const timer = setTimeout(() => current.controller.abort("runner_shutdown"), graceMs);
      await this.loop;
      clearTimeout(timer);
    } else {
      await this.loop;
    }
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    await this.options.lab.close();
  }

  /** Aborts the current attempt at once (second signal). */
  abortNow(): void {
    this.current?.controller.abort("runner_shutdown");
  }
}
