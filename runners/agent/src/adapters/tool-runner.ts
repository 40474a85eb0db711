/**
 * Runs lab tools (flashers, reset and power commands) as bounded subprocesses and classifies how they failed.
 *
 * Every run has a timeout, follows the job's signal and is killed with SIGKILL if it ignores SIGTERM, so a wedged
 * J-Link DLL cannot hang the runner. When the signal aborts (job cancelled, step bound, shutdown) the tool gets
 * only STOP_KILL_GRACE_MS before SIGKILL, because a cancelled job must be off its boards within 2 seconds; and a
 * process that does not even die from SIGKILL (stuck in the kernel on a wedged USB device) is left behind rather
 * than waited for. Commands never go through a shell: templates from lab.yaml are split into argv first and
 * placeholders are substituted per argument, so a file name cannot inject a command.
 */
import { basename } from "node:path";
import type { FlashFailureCode } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import { execa } from "execa";
import type { Logger } from "pino";
import { boundedDelay } from "../signals.ts";

/** A command as lab.yaml gives it: one string split like a shell would (no expansion), or an argv list. */
export type CommandTemplate = string | string[];

/** Placeholders a command template may use; each names what it is replaced with. */
export const PLACEHOLDERS = {
  image: "path of the file to write (raw binary unless the method says otherwise)",
  address: "flash address of the file, hex (0x40000)",
  kind: "kernel or apps",
  serial: "the probe's serial number (probe.serial)",
  probe: "the probe kind (jlink, cmsis-dap, stlink, picoprobe)",
  device: "the board's serial device (serial.device)",
  baud: "the serial baud rate",
  board: "the board name",
  type: "the board type",
} as const;
export type Placeholder = keyof typeof PLACEHOLDERS;

/** Splits a command line like a POSIX shell splits words: quotes and backslashes, nothing else. */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let word = "";
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in command: ${line}`);
  if (inWord) out.push(word);
  return out;
}

export function templateArgv(template: CommandTemplate): string[] {
  return typeof template === "string" ? splitCommand(template) : template;
}

/** Placeholders a template uses, for validation. */
export function placeholdersOf(template: CommandTemplate): string[] {
  return [
    ...templateArgv(template)
      .join(" ")
      .matchAll(/\{([a-zA-Z]+)\}/g),
  ].map((m) => m[1]!);
}

/** Substitutes `{name}` in each argument; an unknown or unset placeholder is an error naming it. */
export function renderCommand(template: CommandTemplate, vars: Partial<Record<Placeholder, string>>): string[] {
  const argv = templateArgv(template).map((arg) =>
    arg.replace(/\{([a-zA-Z]+)\}/g, (_, name: string) => {
      const value = vars[name as Placeholder];
      if (value === undefined) throw new Error(`command ${JSON.stringify(template)} uses {${name}}, which is not set here`);
      return value;
    }),
  );
  if (argv.length === 0) throw new Error(`empty command ${JSON.stringify(template)}`);
  return argv;
}

/** How one tool run ended. `output` is stdout and stderr interleaved, as a person would have seen it. */
export type ToolResult = {
  argv: string[];
  ok: boolean;
  exitCode: number | undefined;
  /** Why it failed, when it did, in the adapter's terms. */
  failure: "missing" | "timeout" | "cancelled" | "exit" | undefined;
  /** The cancel signal's reason was a timeout (e.g. the lease's flash step bound), not a cancellation. */
  timeoutBySignal: boolean;
  /** Why the signal stopped the tool (its abort reason), when it did. */
  stopReason?: string | undefined;
  output: string;
  durationMs: number;
};

export type RunToolOptions = {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  logger: Logger;
  /** How long a tool that outlived its own timeout gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** How long a tool stopped by the signal gets between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
};

/**
 * SIGTERM to SIGKILL when the job's signal stops a tool. Flash tools that handle SIGTERM exit within a few tens of
 * milliseconds; one that does not must not eat the 2-second budget of a cancellation.
 */
export const STOP_KILL_GRACE_MS = 300;
/** After SIGKILL, how long to wait for the exit before leaving the process behind (stuck in an uninterruptible call). */
const REAP_WAIT_MS = 200;

const MAX_OUTPUT = 256 * 1024;

/**
 * Tools run in their own process group, so a stop reaches what they started too (tockloader runs JLinkExe or
 * openocd; a `command` template may be a script). A detached group outlives the runner, so the groups still
 * running are killed when it exits.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

function trackGroup(pid: number) {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const group of liveGroups) killGroup(group, "SIGKILL");
  });
}

/** The abort reason of a signal, for logs and messages. */
function reasonText(signal: AbortSignal | undefined): string | undefined {
  if (!signal?.aborted) return undefined;
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason);
}

export async function runTool(argv: string[], options: RunToolOptions): Promise<ToolResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const started = performance.now();
  const log = options.logger.child({ tool: basename(file) });
  log.info({ argv }, "running");
  const signal = options.signal;
  if (signal?.aborted) {
    log.info({ stoppedBecause: reasonText(signal) }, "not started: stopped before it ran");
    return {
      argv,
      ok: false,
      exitCode: undefined,
      failure: "cancelled",
      timeoutBySignal: isTimeout(signal),
      stopReason: reasonText(signal),
      output: "",
      durationMs: 0,
    };
  }
  let output = "";
  // The timeout and the stop are handled here rather than by execa, because they must reach the whole process
  // group and end in bounded time even when the process cannot be reaped.
  const child = execa(file, args, { reject: false, detached: true, stdin: "ignore", all: true, buffer: false });
  const pid = child.pid;
  if (pid !== undefined) trackGroup(pid);
  let ended: "timeout" | "cancelled" | undefined;
  const timers: NodeJS.Timeout[] = [];
  let leaveBehind: () => void = () => {};
  const leftBehind = new Promise<"left">((resolve) => {
    leaveBehind = () => resolve("left");
  });
  const terminate = (why: "timeout" | "cancelled", graceMs: number) => {
    if (ended) return;
    ended = why;
    if (pid !== undefined) killGroup(pid, "SIGTERM");
    timers.push(setTimeout(() => pid !== undefined && killGroup(pid, "SIGKILL"), graceMs));
    timers.push(setTimeout(leaveBehind, graceMs + REAP_WAIT_MS));
  };
  timers.push(setTimeout(() => terminate("timeout", options.killGraceMs ?? 3_000), boundedDelay(options.timeoutMs)));
  const onStop = () => terminate("cancelled", options.stopGraceMs ?? STOP_KILL_GRACE_MS);
  signal?.addEventListener("abort", onStop, { once: true });
  // Progress: every line goes to the debug log as it comes, so a slow flash can be watched live.
  let pending = "";
  child.all?.on("data", (d: Buffer) => {
    const text = d.toString("utf8");
    if (output.length < MAX_OUTPUT) output += text;
    pending += text;
    const lines = pending.split(/\r?\n|\r/);
    pending = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) log.debug({ line }, "tool output");
  });
  const r = await Promise.race([child, leftBehind]);
  for (const t of timers) clearTimeout(t);
  signal?.removeEventListener("abort", onStop);
  const durationMs = Math.round(performance.now() - started);
  if (r === "left") {
    // Not even SIGKILL ended it: the process sits in the kernel (typically on a USB device that stopped answering).
    // Waiting for it would hold the job forever; it is reaped whenever the kernel lets go.
    void child.catch(() => {});
    output += `\n[${basename(file)} (pid ${pid ?? "?"}) did not exit after SIGKILL; left behind]\n`;
    const failure = ended ?? "timeout";
    const result: ToolResult = {
      argv,
      ok: false,
      exitCode: undefined,
      failure,
      timeoutBySignal: failure === "cancelled" && isTimeout(signal),
      stopReason: failure === "cancelled" ? reasonText(signal) : undefined,
      output,
      durationMs,
    };
    log.error({ pid, durationMs, failure }, "the tool did not exit after SIGKILL; left behind");
    return result;
  }
  if (pid !== undefined) {
    // Whatever the tool started and left behind after a stop goes with it; its group is then empty.
    if (ended) killGroup(pid, "SIGKILL");
    liveGroups.delete(pid);
  }
  let failure: ToolResult["failure"];
  if (r.code === "ENOENT" || r.code === "EACCES") failure = "missing";
  else if (ended) failure = ended;
  else if (r.failed) failure = "exit";
  if (failure === "missing") output += `${r.originalMessage ?? ""}\n`;
  const result: ToolResult = {
    argv,
    ok: failure === undefined,
    exitCode: r.exitCode,
    failure,
    timeoutBySignal: failure === "cancelled" && isTimeout(signal),
    stopReason: failure === "cancelled" ? reasonText(signal) : undefined,
    output,
    durationMs,
  };
  if (failure === "cancelled") log.info({ durationMs, signal: r.signal, stoppedBecause: result.stopReason }, "stopped");
  else log[result.ok ? "info" : "warn"]({ exitCode: r.exitCode, failure, durationMs }, result.ok ? "done" : "failed");
  return result;
}

function isTimeout(signal: AbortSignal | undefined): boolean {
  const reason: unknown = signal?.reason;
  return reason instanceof Error && reason.name === "TimeoutError";
}

/** Known exit codes of flash tools. nrfjprog documents its codes; the others only say 0 or 1. */
const EXIT_CODES: Record<string, Record<number, FlashFailureCode>> = {
  // nrfjprog return codes: 41 no debugger connected (NoDebuggersError), 55 verify error (VerifyError).
  nrfjprog: { 41: "probe_not_found", 55: "verify_failed" },
};

/** Output of flash tools when the probe (or the board behind it) is not there. Checked after the exit codes. */
const PROBE_NOT_FOUND: RegExp[] = [
  /there is no debugger connected/i, // nrfjprog
  /unable to connect to a debugger/i, // nrfjprog
  /no (j-?link|st-?link|cmsis-dap|debug probe|probe|debugger|emulator)s? (device )?(were |was )?(found|connected|attached)/i, // openocd, probe-rs
  /no connected probes were found/i, // probe-rs
  /probe could not be found|no probe found/i, // probe-rs
  /unable to find a matching cmsis-dap device/i, // openocd cmsis-dap
  /\bopen failed\b|libusb_open\(\) failed|could not open (j-?link|st-?link|the probe)/i, // openocd stlink, jlink
  /no accessible rp2040 devices in bootsel mode were found|no accessible .* devices .* were found/i, // picotool
  /serial number .* (was )?not (found|connected)|debugger with serial .* not found/i, // a named probe that is absent
];

/** Output of flash tools when the written data did not read back the same. */
const VERIFY_FAILED: RegExp[] = [
  /verif(y|ication) (failed|error|mismatch)/i,
  /failed to verify|verify_image: .*fail/i,
  /checksum mismatch/i, // openocd verify_image
  /contents? (do|does) not match|data mismatch/i,
];

/** Turns a failed flash-tool run into the FlashError class it belongs to, keeping the tool's output. */
export function classifyToolFailure(result: ToolResult, context: { board: string; what: string; timeoutMs: number }): ToolFlashError {
  const tool = basename(result.argv[0] ?? "tool");
  const tail = tailOf(result.output);
  const detail = (code: FlashFailureCode, why: string) =>
    new ToolFlashError(code, `${code}: ${why}${tail ? `\n--- ${tool} output (last lines) ---\n${tail}` : ""}`, result.output);
  switch (result.failure) {
    case "missing":
      return detail(
        "tool_missing",
        `${context.board}: ${tool} is not installed or not executable (${result.argv[0]}); install it or set flash.tool in lab.yaml`,
      );
    case "timeout":
      return detail("timeout", `${context.board}: ${tool} did not finish ${context.what} within ${context.timeoutMs} ms and was killed`);
    case "cancelled":
      return result.timeoutBySignal
        ? detail("timeout", `${context.board}: the flash step ran out of time while ${tool} was ${context.what}; it was killed`)
        : detail("cancelled", `${context.board}: ${context.what} was stopped (${result.stopReason ?? "cancelled"}); ${tool} was killed`);
    default:
      break;
  }
  const byCode = result.exitCode !== undefined ? EXIT_CODES[tool]?.[result.exitCode] : undefined;
  const code: FlashFailureCode =
    byCode ??
    (PROBE_NOT_FOUND.some((p) => p.test(result.output))
      ? "probe_not_found"
      : VERIFY_FAILED.some((p) => p.test(result.output))
        ? "verify_failed"
        : "tool_failed");
  const why: Record<FlashFailureCode, string> = {
    probe_not_found: `${tool} could not find the debug probe (is it plugged in, and is probe.serial right?)`,
    verify_failed: `${tool} wrote ${context.what} but reading it back did not match`,
    tool_failed: `${tool} failed`,
    invalid_image: "invalid image",
    wrong_board: "wrong board",
    tool_missing: "tool missing",
    timeout: "timeout",
    cancelled: "cancelled",
  };
  return detail(code, `${context.board}: ${why[code]} (exit code ${result.exitCode ?? "none"}, ${context.what})`);
}

/** A FlashError from a tool run, with the whole output for the job's artifacts. */
export class ToolFlashError extends FlashError {
  readonly output: string;
  constructor(code: FlashFailureCode, message: string, output: string, image?: string) {
    super(code, message, image);
    this.output = output;
  }
}

/** The last lines of tool output, for error messages (the full output goes to the artifact). */
export function tailOf(output: string, lines = 8): string {
  return output
    .split(/\r?\n/)
    .filter((l) => l.trim().length > 0)
    .slice(-lines)
    .join("\n");
}
