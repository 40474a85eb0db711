/**
 * The runner daemon: announces its boards, heartbeats, long-polls for work, runs one attempt at a time and
 * finishes it. It survives API restarts (every call retries with backoff; the end of an attempt is retried until
 * the API takes it) and shuts down in two stages: the first signal stops leasing and gives the current attempt a
 * grace period to end, then it is aborted and reported as `runner_shutdown` so the API can retry it elsewhere at
 * once; a second signal aborts it at once.
 */
import type { Lab, Suite } from "@tock-hil/board";
import type { FinishAttemptBody, HealthCheck, Lease } from "@tock-hil/protocol";
import type { Logger } from "pino";
import { ApiError } from "./api-client.ts";
import type { ApiClient } from "./api-client.ts";
import { runAttempt } from "./attempt-runner.ts";
import type { FirmwareCache } from "./firmware-cache.ts";
import { runHealthCheck } from "./health-check.ts";
import type { LoadedLabConfig } from "./lab-config.ts";
import { boundedDelay, sleep } from "./signals.ts";
import { AttemptStop } from "./stop-reason.ts";

const ATTEMPT_HEARTBEAT_MS = 500;
/** After the shutdown's grace period, how long reporting the attempt's end may still be retried. */
const SHUTDOWN_REPORT_MS = 10_000;
/** After a second signal, the same: one short chance for an API that answers. */
const ABORT_REPORT_MS = 2_000;

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
  /** Stops leasing (first signal). */
  private readonly stopController = new AbortController();
  /** Stops the heartbeat loop, once nothing needs it any more. */
  private readonly heartbeatStop = new AbortController();
  /** Gives up reporting an attempt's end (the shutdown ran out of time). */
  private readonly reportStop = new AbortController();
  private current: { lease: Lease; controller: AbortController } | undefined;
  private heartbeatIntervalMs = 5_000;
  /** Ends the heartbeat loop's current wait early; undefined while a heartbeat is in flight. */
  private wakeHeartbeat: (() => void) | undefined;
  private heartbeats: Promise<void> | undefined;
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
    this.heartbeats = this.heartbeatLoop();
    this.loop = this.leaseLoop();
  }

  /**
   * The one heartbeat loop: a beat, then a wait, for the runner's whole life. Starting an attempt ends the wait
   * early rather than starting another loop, so a lease that arrives while a heartbeat is in flight cannot double
   * the heartbeats.
   */
  private async heartbeatLoop() {
    const stop = this.heartbeatStop.signal;
    while (!stop.aborted) {
      await this.untilNextBeat(stop);
      if (stop.aborted) return;
      await this.beat();
    }
  }

  private untilNextBeat(stop: AbortSignal): Promise<void> {
    // During an attempt, beat fast: the heartbeat answer is how a cancellation reaches the runner, and a cancelled
    // job must stop within 2 seconds.
    const interval = this.current ? Math.min(this.heartbeatIntervalMs, ATTEMPT_HEARTBEAT_MS) : this.heartbeatIntervalMs;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stop.removeEventListener("abort", done);
        this.wakeHeartbeat = undefined;
        resolve();
      };
      const timer = setTimeout(done, boundedDelay(interval));
      stop.addEventListener("abort", done, { once: true });
      this.wakeHeartbeat = done;
    });
  }

  private async beat() {
    const current = this.current;
    try {
      const res = await this.options.api.heartbeat(current ? [current.lease.attemptId] : [], this.heartbeatStop.signal);
      if (current && res.cancel.includes(current.lease.attemptId) && this.current === current && !current.controller.signal.aborted) {
        const stop = res.stops.find((s) => s.attemptId === current.lease.attemptId);
        // An API older than the stop reasons sends none: then only "ended" is known.
        const why = !stop
          ? "the API ended the attempt (cancelled, timed out or given up)"
          : stop.status === "unknown"
            ? `the API has no such attempt for this runner${stop.message ? ` (${stop.message})` : ""}`
            : `the API ended the attempt as ${stop.status}${stop.reason ? ` (${stop.reason})` : ""}${stop.message ? `: ${stop.message}` : ""}`;
        this.options.logger.warn(
          { attemptId: current.lease.attemptId, status: stop?.status, reason: stop?.reason, message: stop?.message },
          `${why}; stopping it`,
        );
        current.controller.abort(new AttemptStop("ended_by_api", why));
      }
    } catch (err) {
      if (!this.heartbeatStop.signal.aborted) this.options.logger.warn({ err: (err as Error).message }, "heartbeat failed; will retry");
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
        await sleep(delayMs, stop).catch(() => {});
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
    const { api } = this.options;
    const logger = this.options.logger.child({ attemptId: lease.attemptId, jobId: lease.jobId, runId: lease.runId });
    const controller = new AbortController();
    this.current = { lease, controller };
    // Switch to fast heartbeats now rather than after the current (slow) interval.
    this.wakeHeartbeat?.();
    logger.info({ suite: lease.suite, roles: lease.roles.map((r) => `${r.role}=${r.board}`) }, "attempt leased");
    try {
      const finish = await runAttempt(
        lease,
        { api, lab: this.options.lab, cache: this.options.cache, suites: this.options.suites, logger: this.options.logger },
        controller.signal,
      );
      // Heartbeats go on while the end is reported (this.current is still set), so the API keeps this runner alive
      // through an outage of its own.
      await this.report(lease, finish, logger);
    } finally {
      this.current = undefined;
    }
  }

  /** Reports the end of the attempt, retrying until the API takes it, refuses it, or the shutdown gives up. */
  private async report(lease: Lease, finish: FinishAttemptBody, logger: Logger) {
    try {
      await this.options.api.finish(lease.attemptId, finish, this.reportStop.signal);
    } catch (err) {
      // Only "not running" and "unknown" mean the API ended it first; another 409 (a CONFLICT, e.g. a `cancelled`
      // the API never asked for, or an end contradicting the one it recorded) is a disagreement to look at.
      if (err instanceof ApiError && (err.code === "ATTEMPT_NOT_RUNNING" || err.status === 404))
        // Cancelled, timed out by the API's sweep, or given up as runner_lost: the API's message says which.
        logger.info({ status: finish.status, reason: finish.reason, apiMessage: err.message }, "the API had already ended the attempt");
      else if (err instanceof ApiError) logger.error({ err, finish }, "the API refused the end of the attempt");
      else if (this.reportStop.signal.aborted)
        logger.warn({ finish }, "stopped before the API took the end of the attempt; it will end it as runner_lost");
      else logger.error({ err, finish }, "could not report the end of the attempt");
    }
  }

  /**
   * Stops leasing; gives the current attempt `graceMs` to finish, then aborts it as runner_shutdown. Reporting its
   * end may go on SHUTDOWN_REPORT_MS longer (the API may be restarting too), then the runner gives up on it.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopController.abort(new AttemptStop("runner_shutdown", "the runner is shutting down"));
    const current = this.current;
    const timers: NodeJS.Timeout[] = [];
    if (current) {
      this.options.logger.info({ attemptId: current.lease.attemptId, graceMs }, "waiting for the current attempt before stopping");
      timers.push(
        setTimeout(
          () => current.controller.abort(new AttemptStop("runner_shutdown", "the runner shut down: its grace period ran out")),
          boundedDelay(graceMs),
        ),
        setTimeout(() => this.reportStop.abort(), boundedDelay(graceMs + SHUTDOWN_REPORT_MS)),
      );
    }
    await this.loop;
    for (const t of timers) clearTimeout(t);
    this.heartbeatStop.abort();
    await this.heartbeats;
    await this.options.lab.close();
  }

  /** Aborts the current attempt at once (second signal); its end gets one short chance to be reported. */
  abortNow(): void {
    this.current?.controller.abort(new AttemptStop("runner_shutdown", "the runner shut down: a second signal"));
    setTimeout(() => this.reportStop.abort(), ABORT_REPORT_MS).unref();
  }
}
