/**
 * A real board behind the narrow Board interface: console through `serialport`, flashing and control through the
 * tools lab.yaml names. Every failure of a flash ends as a FlashError of a precise class with the tool's output,
 * and every tool run is recorded for the session's artifacts (`flash-<board>.log`).
 */
import { mkdir, mkdtemp, open, readFile, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Board, Clock, FirmwareImage, FlashReport, SerialConsole } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import type { Logger } from "pino";
import type { HardwareBoardConfig } from "../lab-config.ts";
import { abortError, raceSignal, sleep } from "../signals.ts";
import { planRegions } from "./firmware-files.ts";
import type { FlashStep } from "./flash-methods.ts";
import { LEAVES_HALTED, boardVars, controlArgv, flashSteps, isBootDrive, layoutOf } from "./flash-methods.ts";
import { SerialLine } from "./serial-line.ts";
import type { ToolResult } from "./tool-runner.ts";
import { ToolFlashError, classifyToolFailure, renderCommand, runTool, tailOf } from "./tool-runner.ts";

export type HardwareBoardOptions = {
  config: HardwareBoardConfig;
  clock: Clock;
  logger: Logger;
  /** Scratch directory for flash files. */
  workDir: string;
};

/** A UF2 file is written in pieces of this size, so a stop is noticed between them. */
const UF2_COPY_CHUNK = 64 * 1024;

/** What the board was last flashed with, to skip writing the same images again. */
type Holding = { key: string; names: string; at: string };

export class HardwareBoard implements Board {
  readonly name: string;
  readonly type: string;
  readonly serial: SerialConsole;
  readonly line: SerialLine;
  private readonly cfg: HardwareBoardConfig;
  private readonly logger: Logger;
  private holding: Holding | undefined;
  /** Set at reset, cleared by the first byte after it: a reset with no output means the board did not boot. */
  private silentSinceReset = false;
  /** The board printed after a reset since it was last flashed: what it holds boots. */
  private bootedSinceFlash = false;
  private poweredOff = false;
  /** Halted by muting the console (no halt command and no power control): the board itself may still run. */
  private mutedHalt = false;
  private sessionLog = "";

  constructor(private readonly options: HardwareBoardOptions) {
    this.cfg = options.config;
    this.name = this.cfg.name;
    this.type = this.cfg.type;
    this.logger = options.logger.child({ board: this.name });
    this.line = new SerialLine({
      path: this.cfg.serial.device,
      baudRate: this.cfg.serial.baud,
      logger: this.logger,
      now: () => options.clock.now(),
    });
    this.line.onData(() => {
      if (this.silentSinceReset) this.bootedSinceFlash = true;
      this.silentSinceReset = false;
    });
    this.serial = {
      onData: (listener) => this.line.onData(listener),
      write: (data) => this.line.write(data, this.cfg.serial.interByteDelayMs),
    };
  }

  start(): void {
    this.line.start();
  }

  /** How this board halts, for the session notes. */
  get haltMethod(): "command" | "power" | "mute" {
    if (controlArgv(this.cfg, "halt")) return "command";
    return this.cfg.power ? "power" : "mute";
  }

  async flash(images: FirmwareImage[], signal?: AbortSignal): Promise<FlashReport> {
    if (signal?.aborted) throw new FlashError("cancelled", `flashing ${this.name} was cancelled before it started`);
    const layout = layoutOf(this.cfg);
    if (!layout) throw new FlashError("wrong_board", `${this.name}: no flash layout for board type ${this.type}`);
    // Checked before any tool runs: a corrupt app is the image's fault, not the board's.
    const regions = planRegions(images, layout, this.name);
    const written = regions.flatMap((r) => r.images);
    const key = JSON.stringify(written.map((w) => [w.sha256, w.address]));
    const names = written.map((w) => `${w.name} (${w.sha256.slice(0, 12)})`).join(", ");
    if (this.silentSinceReset) this.holding = undefined;

    if (this.cfg.flash.skipIdentical && this.bootedSinceFlash && this.holding?.key === key) {
      const log = `not reflashed: ${this.name} already holds ${names}, written at ${this.holding.at} and booted since\n`;
      this.logger.info({ images: written.map((w) => w.name) }, "board already holds these images; not reflashed");
      this.record(log);
      await this.halt(signal);
      return { written, log };
    }

    this.holding = undefined;
    this.bootedSinceFlash = false;
    await mkdir(this.options.workDir, { recursive: true });
    const dir = await mkdtemp(join(this.options.workDir, `${this.name}-`));
    let log = "";
    try {
      if (this.poweredOff) await this.power("on", signal);
      const steps = await flashSteps(this.cfg, regions, dir);
      for (const [i, step] of steps.entries()) {
        this.logger.info({ step: i + 1, of: steps.length, what: step.what }, "flash step");
        const result = await this.runStep(step, signal);
        log += this.format(result);
        if (!result.ok) throw classifyToolFailure(result, { board: this.name, what: step.what, timeoutMs: this.cfg.flash.timeoutMs });
      }
    } catch (err) {
      if (err instanceof ToolFlashError && err.code === "cancelled")
        this.logger.info({ message: err.message.split("\n")[0] }, "flash stopped");
      else if (err instanceof ToolFlashError) this.logger.warn({ code: err.code, output: tailOf(err.output, 20) }, "flash failed");
      throw err;
    } finally {
      this.record(log);
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    }
    this.holding = { key, names, at: new Date().toISOString() };
    // Board.flash leaves the board halted until reset; tools that reset after writing are followed by a halt.
    if (!LEAVES_HALTED.has(this.cfg.flash.method)) await this.halt(signal);
    this.mutedHalt = false;
    return { written, log };
  }

  private format(r: ToolResult): string {
    const status = r.ok ? "ok" : `${r.failure}${r.exitCode !== undefined ? ` (exit ${r.exitCode})` : ""}`;
    return `$ ${r.argv.join(" ")}\n${r.output}${r.output.endsWith("\n") || !r.output ? "" : "\n"}[${status}, ${r.durationMs} ms]\n`;
  }

  private record(text: string) {
    if (text) this.sessionLog += text;
  }

  /** Tool output recorded since the last call (flash steps, resets), for the job's artifacts. */
  takeLog(): string {
    const log = this.sessionLog;
    this.sessionLog = "";
    return log;
  }

  private async runStep(step: FlashStep, signal: AbortSignal | undefined): Promise<ToolResult> {
    const timeoutMs = this.cfg.flash.timeoutMs;
    if (step.kind === "tool") return runTool(step.argv, { timeoutMs, signal, logger: this.logger });
    // Built-in steps of uf2-copy, bounded like a tool (its timeout and the job's signal) and reported in the same
    // shape. File system calls on a boot drive that stopped answering can block for good, so each one is raced
    // against the bound rather than awaited: the step ends on time and the stuck call is left to the kernel.
    const started = performance.now();
    const argv = [step.kind, step.kind === "uf2-copy" ? `${step.file} -> ${step.mount}` : step.mount];
    const timeout = AbortSignal.timeout(timeoutMs);
    const bound = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const done = (failure: ToolResult["failure"], output: string): ToolResult => ({
      argv,
      ok: failure === undefined,
      exitCode: failure === undefined ? 0 : 1,
      failure,
      timeoutBySignal: failure === "cancelled" && signal?.reason instanceof Error && signal.reason.name === "TimeoutError",
      stopReason: failure === "cancelled" && signal ? abortError(signal).message : undefined,
      output,
      durationMs: Math.round(performance.now() - started),
    });
    const ended = (what: string, err: unknown): ToolResult => {
      if (signal?.aborted) return done("cancelled", `${what} was stopped: ${abortError(signal).message}\n`);
      if (timeout.aborted) return done("timeout", `${what} did not finish within ${timeoutMs} ms\n`);
      return done("exit", `${what} failed: ${(err as Error).message}\n`);
    };
    if (step.kind === "wait-mount") {
      try {
        while (!(await raceSignal(isBootDrive(step.mount), bound))) await sleep(100, bound);
        return done(undefined, `boot drive ${step.mount} is mounted\n`);
      } catch (err) {
        if (timeout.aborted && !signal?.aborted)
          return done("exit", `No boot drive was found at ${step.mount} (no INFO_UF2.TXT) within ${timeoutMs} ms\n`);
        return ended(`waiting for the boot drive ${step.mount}`, err);
      }
    }
    const target = join(step.mount, basename(step.file));
    const copy = async () => {
      const data = await readFile(step.file);
      const fh = await open(target, "w");
      try {
        for (let at = 0; at < data.length; at += UF2_COPY_CHUNK) {
          bound.throwIfAborted();
          await fh.write(data, at, Math.min(UF2_COPY_CHUNK, data.length - at));
        }
        // The drive reboots the board once the UF2 is complete; fsync so nothing stays in the page cache.
        await fh.sync().catch(() => {});
      } finally {
        await fh.close().catch(() => {});
      }
    };
    try {
      await raceSignal(copy(), bound);
      return done(undefined, `copied ${basename(step.file)} to ${step.mount}\n`);
    } catch (err) {
      return ended(`copying ${basename(step.file)} to ${step.mount}`, err);
    }
  }

  /**
   * Resets the board. A failed reset command does not throw: it is logged and kept in the session's tool log, and
   * the board then prints nothing, which the runner reports as boot_timeout, an infra error that sends the board
   * to a health check (a thrown error would end the attempt as a runner crash that does not implicate the board).
   */
  async reset(signal?: AbortSignal): Promise<void> {
    if (this.mutedHalt) this.line.unmute();
    this.mutedHalt = false;
    this.silentSinceReset = true;
    try {
      if (this.poweredOff) {
        // Powering on is the reset: the board boots from flash.
        await this.power("on", signal);
        return;
      }
      const argv = controlArgv(this.cfg, "reset");
      if (argv) {
        await this.control(argv, "reset", signal);
        return;
      }
      await this.power("off", signal);
      await sleep(this.cfg.power?.cycleMs ?? 0, signal);
      await this.power("on", signal);
    } catch (err) {
      if (signal?.aborted) this.logger.info({ stoppedBecause: abortError(signal).message }, "reset stopped");
      else this.logger.error({ err: (err as Error).message }, "reset failed; the board will look dead to the boot check");
    }
  }

  async halt(signal?: AbortSignal): Promise<void> {
    if (this.silentSinceReset) this.holding = undefined;
    this.silentSinceReset = false;
    const argv = controlArgv(this.cfg, "halt");
    if (argv) {
      await this.control(argv, "halt", signal);
      return;
    }
    if (this.cfg.power) {
      await this.power("off", signal);
      return;
    }
    // No way to stop the CPU: drop its output until the next reset, so suites still see a silent board.
    if (!this.mutedHalt) this.line.mute();
    this.mutedHalt = true;
  }

  private async power(state: "on" | "off", signal?: AbortSignal) {
    if (!this.cfg.power) throw new Error(`${this.name}: no power commands are configured`);
    await this.control(renderCommand(this.cfg.power[state], boardVars(this.cfg)), `power ${state}`, signal);
    this.poweredOff = state === "off";
  }

  /**
   * Runs a reset, halt or power command. A failure throws with the tool's output: the board's state is unknown,
   * which the runner reports as an infra error (never as a test failure).
   */
  private async control(argv: string[], what: string, signal?: AbortSignal) {
    const result = await runTool(argv, { timeoutMs: this.cfg.commandTimeoutMs, signal, logger: this.logger });
    this.record(this.format(result));
    // Thrown as a FlashError of the same classes as a flash: a halt inside flash() (skipped reflash) that cannot
    // reach the probe is a flash failure, reported as such.
    if (!result.ok) throw classifyToolFailure(result, { board: this.name, what, timeoutMs: this.cfg.commandTimeoutMs });
  }

  /**
   * Before a job: halt the board and drain its console until it is silent, so nothing printed before (a previous
   * job's tail, boot noise) shows up in this job's log. A board that keeps printing while halted is miswired
   * (another board's console?) and must not take the job.
   */
  async prepare(signal?: AbortSignal): Promise<{ dropped: number; notes: string[] }> {
    await this.line.waitOpen(5_000, signal);
    const notes: string[] = [];
    let halted = true;
    try {
      await this.halt(signal);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      // Not fatal here: the flash that follows runs the same probe and fails with a precise class (probe not found,
      // tool missing...), which is what the API needs to judge the board.
      halted = false;
      notes.push(`${this.name}: halting before the job failed: ${(err as Error).message.split("\n")[0]}`);
      this.logger.warn({ err: (err as Error).message }, "halt before the job failed");
    }
    const { dropped, quiet } = await this.line.drain(this.cfg.serial.quietMs, this.cfg.serial.drainMaxMs, signal);
    if (dropped > 0) this.logger.info({ dropped }, "drained leftover serial output before the job");
    if (!quiet && halted && this.haltMethod !== "mute") {
      throw new Error(
        `${this.name}: the console ${this.cfg.serial.device} kept printing for ${this.cfg.serial.drainMaxMs} ms after the board was halted ` +
          `(${dropped} bytes); check that serial.device belongs to this board`,
      );
    }
    return { dropped, notes };
  }

  async close(): Promise<void> {
    await this.line.close();
  }
}
