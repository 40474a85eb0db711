/**
 * The narrow board interface.
 *
 * Suites see hardware only through these types, so the same suite runs unchanged on a real board (serial port +
 * flash tool) and on an emulated one. Only what suites and the runner actually use is declared here; every
 * adapter (emulated, real) must pass the one conformance suite in `runners/agent/test/board-conformance.ts`.
 */
import type { Faults } from "@tock-hil/protocol";

/** A clock shared by every board a job uses. Emulated labs run it in virtual time, real labs in wall time. */
export type Clock = {
  /** Milliseconds since an arbitrary origin, on this clock. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds of this clock have passed. On an emulated lab this drives the simulation,
   * so it usually returns far sooner in wall time. Rejects with the signal's reason when aborted.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
};

/** Kinds of firmware a board can be flashed with. */
export type FirmwareKind = "kernel" | "tbf" | "tab";

/** One verified image handed to `Board.flash`. The runner has already checked `sha256` against the bytes. */
export type FirmwareImage = {
  /** Logical name, e.g. `nrf52840dk` for a kernel or `radio_rx` for an app; used in error messages. */
  name: string;
  kind: FirmwareKind;
  sha256: string;
  bytes: Uint8Array;
};

/** Why a flash failed. Every one of these is an infrastructure error, never a test failure. */
export type FlashFailureCode =
  | "invalid_image" // the image is malformed (bad TBF header, checksum, truncated, wrong format)
  | "wrong_board" // the image is built for another board or architecture
  | "tool_missing" // the flash tool is not installed
  | "probe_not_found" // the debug probe / board is not connected
  | "timeout" // the flash tool did not finish in time
  | "verify_failed" // read-back after write did not match
  | "tool_failed" // the flash tool failed for another reason (its output says why)
  | "cancelled"; // stopped from outside while flashing (job cancelled or out of time, runner shutting down)

/** Thrown by `Board.flash`. The message names the image and says what is wrong with it. */
export class FlashError extends Error {
  readonly code: FlashFailureCode;
  readonly image: string | undefined;
  constructor(code: FlashFailureCode, message: string, image?: string) {
    super(message);
    this.name = "FlashError";
    this.code = code;
    this.image = image;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** What a successful flash did, recorded with the attempt. */
export type FlashReport = {
  /** Images written, in order, with where they landed. */
  written: { name: string; sha256: string; address: number; size: number }[];
  /** Tool output worth keeping (e.g. tockloader's log); empty for the emulator. */
  log: string;
};

/** Serial console of a board. Bytes, not lines: suites decide how to split. */
export type SerialConsole = {
  /**
   * Subscribes to bytes as the board emits them; `atMs` is the time on the lab clock when the chunk arrived.
   * Returns an unsubscribe function.
   */
  onData(listener: (chunk: Uint8Array, atMs: number) => void): () => void;
  /** Writes to the board (e.g. process console commands). */
  write(data: Uint8Array | string): Promise<void>;
};

/**
 * How long a board operation may take to settle once its `signal` is aborted. A cancelled job must be off its
 * boards within 2 seconds: the heartbeat that brings the cancellation takes up to 500 ms, the runner cuts its
 * cleanup off 1 s after the stop, and an operation cut off then gets this long. Adapters stop their subprocesses
 * and waits within it (the hardware adapter sends SIGKILL 300 ms after SIGTERM); the runner walks away from an
 * operation that does not, and logs it.
 */
export const ABORT_SETTLE_MS = 500;

/**
 * One physical or emulated board. Every operation that can take time takes an optional AbortSignal and, once it is
 * aborted, settles within {@link ABORT_SETTLE_MS} (rejecting, except where noted); the board's state is then
 * unknown until the next flash or session.
 */
export type Board = {
  /** Stable name in the lab, e.g. `nrf-1`. */
  readonly name: string;
  /** Board type, e.g. `nrf52840dk`. */
  readonly type: string;
  readonly serial: SerialConsole;
  /**
   * Erases the board and writes the kernel and apps. The board stays halted until `reset`.
   * Throws `FlashError` on any failure.
   */
  flash(images: FirmwareImage[], signal?: AbortSignal): Promise<FlashReport>;
  /**
   * Hardware reset: the board restarts from what is in flash and prints its boot output. A reset that fails (or is
   * aborted) may resolve anyway: the board then stays silent, which the runner's boot check reports.
   */
  reset(signal?: AbortSignal): Promise<void>;
  /** Stops the board (radio off, no output) until the next reset. */
  halt(signal?: AbortSignal): Promise<void>;
};

/** A set of boards that share one clock (and, for emulation, one radio medium). */
export type Lab = {
  readonly clock: Clock;
  readonly boards: readonly Board[];
  /**
   * Starts a session for one job attempt: applies the seed and faults, so the same seed and firmware produce the
   * same serial output. Real labs ignore what they cannot apply and say so in the returned notes.
   */
  beginSession(options: SessionOptions): Promise<{ notes: string[] }>;
  /** Ends the session; halts the boards it used. Never throws; stops halting when `signal` aborts. */
  endSession(signal?: AbortSignal): Promise<void>;
  /**
   * Files recorded during the current session (e.g. medium captures), taken once: a second call returns only what
   * was recorded since. Optional: labs without recorders omit it.
   */
  takeCaptures?(): Capture[];
  close(): Promise<void>;
};

/**
 * Faults a session can inject, as the run asked for them (the catalog and its documentation live with the wire
 * schema in @tock-hil/protocol). Emulated labs model them; real labs apply what they can and say what they cannot
 * in `beginSession`'s notes.
 */
export type { Faults } from "@tock-hil/protocol";

/** A file a lab recorded during a session, e.g. a pcap of the radio medium; stored as a job artifact. */
export type Capture = {
  /** File name, unique within the session, e.g. `ieee802154-ch26.pcap`. */
  name: string;
  /** e.g. `application/vnd.tcpdump.pcap`. */
  mediaType: string;
  bytes: Uint8Array;
};

export type SessionOptions = {
  seed: number;
  faults?: Faults | undefined;
  /** Aborts preparing the boards (halting them, draining their consoles); `beginSession` then rejects. */
  signal?: AbortSignal | undefined;
};

/** Status of one test case, as reported by a suite. */
export type TestStatus = "pass" | "fail" | "error" | "skip" | "not_run";

/** A range of a board's serial log (byte offsets, end exclusive) that a verdict was judged on. */
export type LogSpan = { role: string; start: number; end: number };

/** Outcome of one test case. */
export type TestOutcome = {
  status: TestStatus;
  /** Human-readable reason; always set for anything but `pass`. */
  message?: string | undefined;
  /** Numbers the verdict was based on (counts, ratios, thresholds). */
  measurements?: Record<string, number | string | boolean> | undefined;
  /** The serial output the verdict was judged on. */
  logSpan?: LogSpan | undefined;
};

/** The recorded serial log of one board during a test: offsets index into the attempt's log for that role. */
export type ConsoleLog = {
  /** Current length of the log in bytes. */
  offset(): number;
  /** Text received since `from` (an earlier `offset()`), decoded as UTF-8. */
  textSince(from: number): string;
};

/** What a test case gets to work with. */
export type TestContext = {
  /** Boards by role name, as the job allocated them (e.g. `tx`, `rx`). */
  boards: Readonly<Record<string, Board>>;
  /** Recorded serial logs by role. */
  consoles: Readonly<Record<string, ConsoleLog>>;
  clock: Clock;
  /**
   * Aborted when the test must stop: its time is up, the job was cancelled or timed out, or the runner is shutting
   * down. The test then has about a second to return; after that the runner takes its boards back (their
   * operations, the clock and the consoles reject for this test) and halts them, so an abandoned test can never
   * drive a board during the next test or job.
   */
  signal: AbortSignal;
  /** Every verified image of the job by role, then logical name: flashed ones and `extraFirmware`. */
  firmware: Readonly<Record<string, Readonly<Record<string, FirmwareImage>>>>;
  /** Progress lines for the runner's log (not the board's serial log). */
  log(message: string): void;
};

/** A role a suite needs, e.g. `{ name: "rx", boardType: "nrf52840dk" }`. */
export type RoleRequirement = {
  name: string;
  boardType: string;
  /** Images to flash on this role's board at the start of the job, by logical name (e.g. `nrf52840dk`, `radio_rx`). */
  firmware: string[];
  /**
   * Images the runner fetches and verifies for this role but does not flash: tests flash them themselves (e.g. a
   * test that needs a different kernel, or a deliberately broken image). Available in `TestContext.firmware`.
   */
  extraFirmware?: string[];
  /** Tags the board must carry (e.g. `antenna-ext`). */
  tags?: string[];
  /**
   * The role's firmware prints nothing at reset (e.g. ot-cli waits for a command, a sniffer waits for frames), so
   * the runner skips its "board must print after reset" boot check for this role.
   */
  silentBoot?: boolean;
};

/** Static description of a test case (no code), safe to import from the API. */
export type TestManifest = {
  name: string;
  description: string;
  /** Roles this test uses; a subset of the suite's roles. */
  roles: string[];
  /**
   * Wall-time bound on this test. When omitted, the runner uses HIL_STEP_TEST_MS (the lease's `steps.testMs`), at
   * most a quarter of the suite's `timeoutMs`, so one hung test ends `error` "timed out" and leaves time for the
   * others instead of using up the whole job. Declare it for a test that legitimately needs longer.
   */
  timeoutMs?: number;
};

/** Static description of a suite (no code), safe to import from the API. */
export type SuiteManifest = {
  name: string;
  description: string;
  roles: RoleRequirement[];
  tests: TestManifest[];
  /** Upper bound on the whole suite's wall time, for the job timeout. */
  timeoutMs: number;
  /** All roles must be on boards of one group (e.g. one RF enclosure, or one emulated medium). */
  sameGroup?: boolean;
  /** Re-run a failed test up to this many times; pass-after-fail is reported as flaky. Default 0. */
  reruns?: number;
};

/** One executable test case. */
export type TestCase = TestManifest & {
  run(ctx: TestContext): Promise<TestOutcome>;
};

/** A suite: its manifest plus executable test cases. */
export type Suite = {
  manifest: SuiteManifest;
  tests: TestCase[];
};

/** A suite's test manifest by name, for building its TestCase (`{ ...testManifest(manifest, "radio_rx"), run }`). */
export function testManifest(manifest: SuiteManifest, name: string): TestManifest {
  const t = manifest.tests.find((x) => x.name === name);
  if (!t) throw new Error(`suite ${manifest.name} has no test ${name} in its manifest`);
  return t;
}

/** The board or console log of a role in a test context, with an error naming the role when it is missing. */
export function forRole<T>(map: Readonly<Record<string, T>>, name: string, what: string): T {
  const v = map[name];
  if (v === undefined) throw new Error(`${what} for role "${name}" is missing from the test context`);
  return v;
}
