/**
 * The IEEE 802.15.4 suite: Tensile's radio_tx and radio_rx tests against the narrow board interface, so the same
 * code judges real nRF52840DKs and emulated ones.
 */
import type { Suite, TestCase, TestContext, TestOutcome } from "@tock-hil/board";
import { judgeRadioRx, judgeRadioTx } from "./judge.ts";
import { manifest } from "./manifest.ts";

export { manifest } from "./manifest.ts";
export * from "./judge.ts";

export const RADIO_TX_SECONDS = 10;
export const RADIO_RX_SECONDS = 60;
/** Time given to radio_rx to boot and turn its radio on before the transmitter starts. */
export const RX_STARTUP_MS = 1000;

function testManifest(name: string): Omit<TestCase, "run"> {
  const t = manifest.tests.find((x) => x.name === name);
  if (!t) throw new Error(`manifest has no test ${name}`);
  return t;
}

function role<T>(map: Readonly<Record<string, T>>, name: string, what: string): T {
  const v = map[name];
  if (v === undefined) throw new Error(`${what} for role "${name}" is missing from the test context`);
  return v;
}

const radioTx: TestCase = {
  ...testManifest("radio_tx"),
  async run(ctx: TestContext): Promise<TestOutcome> {
    const tx = role(ctx.boards, "tx", "board");
    const log = role(ctx.consoles, "tx", "console log");
    try {
      await tx.reset();
      const start = log.offset();
      ctx.log(`radio_tx: ${tx.name} reset, counting transmissions for ${RADIO_TX_SECONDS} s`);
      await ctx.clock.sleep(RADIO_TX_SECONDS * 1000, ctx.signal);
      const end = log.offset();
      const verdict = judgeRadioTx(log.textSince(start), RADIO_TX_SECONDS);
      return {
        status: verdict.pass ? "pass" : "fail",
        message: verdict.message,
        measurements: verdict.measurements,
        logSpan: { role: "tx", start, end },
      };
    } finally {
      await tx.halt();
    }
  },
};

const radioRx: TestCase = {
  ...testManifest("radio_rx"),
  async run(ctx: TestContext): Promise<TestOutcome> {
    const tx = role(ctx.boards, "tx", "board");
    const rx = role(ctx.boards, "rx", "board");
    const log = role(ctx.consoles, "rx", "console log");
    try {
      // The receiver must be listening before the first frame, so the transmitter is held until it is.
      await tx.halt();
      await rx.reset();
      const start = log.offset();
      await ctx.clock.sleep(RX_STARTUP_MS, ctx.signal);
      await tx.reset();
      ctx.log(`radio_rx: ${tx.name} -> ${rx.name}, counting received packets for ${RADIO_RX_SECONDS} s`);
      await ctx.clock.sleep(RADIO_RX_SECONDS * 1000, ctx.signal);
      const end = log.offset();
      const verdict = judgeRadioRx(log.textSince(start), RADIO_RX_SECONDS);
      return {
        status: verdict.pass ? "pass" : "fail",
        message: verdict.message,
        measurements: verdict.measurements,
        logSpan: { role: "rx", start, end },
      };
    } finally {
      await tx.halt();
      await rx.halt();
    }
  },
};

export const suite: Suite = { manifest, tests: [radioTx, radioRx] };
export default suite;
