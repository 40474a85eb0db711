/**
 * The flashing suite. Two kinds of test:
 * - `app_loaded` checks that the job's own images really run: the expected app must be listed by the process
 *   console (`list`) before its output is judged, so a board that silently skipped the app yields `error`, never
 *   `pass`.
 * - the broken-image tests flash a deliberately broken image and pass when the board refuses it with the precise
 *   FlashError class (the system behaved correctly); they fail when a broken image is accepted or refused for the
 *   wrong reason.
 */
import type { Board, ConsoleLog, FirmwareImage, FlashFailureCode, Suite, TestCase, TestContext, TestOutcome } from "@tock-hil/board";
import { forRole as role, testManifest } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import { EXPECTED_APP, manifest } from "./manifest.ts";

export { EXPECTED_APP, manifest } from "./manifest.ts";

export const HELLO_LINE = "Hello World!";
export const BOOT_WAIT_MS = 1000;
const LIST_HEADER = /^\s*PID\s+ShortID\s+Name\s+Quanta\s+Syscalls\s+Restarts\s+Grants\s+State\s*$/;
const PANIC = /^panicked at (.*)$/;

const lines = (text: string): string[] => text.split("\n").map((l) => l.replace(/\r$/, ""));

function images(ctx: TestContext, names: string[]): FirmwareImage[] {
  const all = role(ctx.firmware, "dut", "firmware");
  return names.map((n) => {
    const image = all[n];
    if (!image) throw new Error(`image ${n} is missing from the job`);
    return image;
  });
}

/** Puts the job-start images back so later tests start from a known board. */
async function restore(ctx: TestContext, dut: Board): Promise<void> {
  const r = manifest.roles.find((x) => x.name === "dut");
  await dut.flash(images(ctx, r?.firmware ?? []), ctx.signal).catch(() => undefined);
}

export type ProcessRow = { pid: number; name: string; state: string };

/** Parses the process console's `list` table out of a transcript; undefined when no table was printed. */
export function parseList(text: string): ProcessRow[] | undefined {
  const ls = lines(text);
  const header = ls.findIndex((l) => LIST_HEADER.test(l));
  if (header < 0) return undefined;
  const rows: ProcessRow[] = [];
  for (const l of ls.slice(header + 1)) {
    const m = /^\s*(\d+)\s+\S+\s+(\S+)\s+\d+\s+\d+\s+\d+\s+\S+\s+(\S+)\s*$/.exec(l);
    if (!m) break;
    rows.push({ pid: Number(m[1]), name: m[2] ?? "", state: m[3] ?? "" });
  }
  return rows;
}

/** Sends `list` and returns the table (undefined when the console did not answer within 500 ms). */
async function listProcesses(ctx: TestContext, dut: Board, log: ConsoleLog): Promise<ProcessRow[] | undefined> {
  const from = log.offset();
  await dut.serial.write("list\r\n");
  await ctx.clock.sleep(500, ctx.signal);
  return parseList(log.textSince(from));
}

/**
 * The guard every app check goes through: `error` when the expected app is not listed (it was not loaded, so
 * nothing it would print can be judged), undefined when it is.
 */
export function appNotLoaded(rows: ProcessRow[] | undefined, app: string): TestOutcome | undefined {
  if (!rows) return { status: "error", message: `process console did not answer \`list\`; cannot tell whether ${app} was loaded` };
  if (!rows.some((r) => r.name === app)) {
    const listed = rows.length > 0 ? rows.map((r) => `${r.name} (${r.state})`).join(", ") : "no processes";
    return { status: "error", message: `expected app ${app} was not loaded: \`list\` shows ${listed}` };
  }
  return undefined;
}

const appLoaded: TestCase = {
  ...testManifest(manifest, "app_loaded"),
  async run(ctx) {
    const dut = role(ctx.boards, "dut", "board");
    const log = role(ctx.consoles, "dut", "console log");
    try {
      const start = log.offset();
      await dut.reset();
      await ctx.clock.sleep(BOOT_WAIT_MS, ctx.signal);
      const boot = log.textSince(start);
      const rows = await listProcesses(ctx, dut, log);
      const logSpan = { role: "dut", start, end: log.offset() };
      const panic = lines(log.textSince(start)).find((l) => PANIC.test(l));
      if (panic) return { status: "fail", message: `kernel panicked: ${panic}`, logSpan };
      const notLoaded = appNotLoaded(rows, EXPECTED_APP);
      if (notLoaded) return { ...notLoaded, logSpan };
      if (!lines(boot).includes(HELLO_LINE))
        return { status: "fail", message: `${EXPECTED_APP} is loaded but did not print "${HELLO_LINE}"`, logSpan };
      return { status: "pass", measurements: { processes: rows?.length ?? 0 }, logSpan };
    } finally {
      await dut.halt();
    }
  },
};

/** A broken-image test: flashing `names` must fail with `code` and a message matching `reason`. */
function refusal(name: string, names: string[], code: FlashFailureCode, reason: RegExp, image: string): TestCase {
  return {
    ...testManifest(manifest, name),
    async run(ctx) {
      const dut = role(ctx.boards, "dut", "board");
      try {
        await dut.flash(images(ctx, names), ctx.signal);
      } catch (err) {
        if (!(err instanceof FlashError)) throw err;
        const measurements = { code: err.code, image: err.image ?? "" };
        if (err.code !== code || err.image !== image || !reason.test(err.message)) {
          return {
            status: "fail",
            message: `${image} was refused for the wrong reason: expected ${code} matching ${reason}, got ${err.code}: ${err.message}`,
            measurements,
          };
        }
        return { status: "pass", message: `refused as expected: ${err.code}: ${err.message}`, measurements };
      } finally {
        await restore(ctx, dut);
      }
      return { status: "fail", message: `${image} was flashed without error; the board accepted a broken image` };
    },
  };
}

const disabledApp: TestCase = {
  ...testManifest(manifest, "disabled_app"),
  async run(ctx) {
    const dut = role(ctx.boards, "dut", "board");
    const log = role(ctx.consoles, "dut", "console log");
    try {
      try {
        await dut.flash(images(ctx, ["nrf52840dk", "flash_disabled"]), ctx.signal);
      } catch (err) {
        if (err instanceof FlashError)
          return { status: "fail", message: `a valid but disabled TBF was refused: ${err.code}: ${err.message}` };
        throw err;
      }
      const start = log.offset();
      await dut.reset();
      await ctx.clock.sleep(BOOT_WAIT_MS, ctx.signal);
      const rows = await listProcesses(ctx, dut, log);
      const text = log.textSince(start);
      const logSpan = { role: "dut", start, end: log.offset() };
      if (!rows) return { status: "error", message: "process console did not answer `list`", logSpan };
      const guard = appNotLoaded(rows, EXPECTED_APP);
      if (!guard || lines(text).includes(HELLO_LINE)) {
        return {
          status: "fail",
          message: `disabled ${EXPECTED_APP} ran or is listed: ${rows.map((r) => `${r.name} (${r.state})`).join(", ")}`,
          logSpan,
        };
      }
      // The guard reporting `error` is the behaviour under test: it is what keeps a suite from passing.
      return { status: "pass", message: `guard reports: ${guard.message ?? ""}`, measurements: { listed: rows.length }, logSpan };
    } finally {
      await dut.halt();
      await restore(ctx, dut);
    }
  },
};

export const suite: Suite = {
  manifest,
  tests: [
    appLoaded,
    refusal("corrupted_header", ["nrf52840dk", "flash_bad_header"], "invalid_image", /TBF header checksum mismatch/, "flash_bad_header"),
    refusal(
      "truncated_image",
      ["nrf52840dk", "flash_truncated"],
      "invalid_image",
      /truncated: TBF total_size is \d+ bytes but the image has 1000/,
      "flash_truncated",
    ),
    refusal("other_board_image", ["flash_other_board"], "wrong_board", /built for board "raspberry_pi_pico_w"/, "flash_other_board"),
    disabledApp,
  ],
};
export default suite;
