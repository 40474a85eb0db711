/**
 * The IEEE 802.15.4 suite: Tensile's radio_tx and radio_rx tests against the narrow board interface, so the same
 * code judges real nRF52840DKs and emulated ones.
 */
import type { Board, FirmwareImage, Suite, TestCase, TestContext, TestOutcome } from "@tock-hil/board";
import { forRole as role, testManifest } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import { countRxBlocks, countTransmissions, judgeRadioAck, judgeRadioRx, judgeRadioTx, judgeRadioTxRaw } from "./judge.ts";
import { manifest } from "./manifest.ts";

export { manifest } from "./manifest.ts";
export * from "./judge.ts";

export const RADIO_TX_SECONDS = 10;
export const RADIO_RX_SECONDS = 60;
/** Time given to radio_rx to boot and turn its radio on before the transmitter starts. */
export const RX_STARTUP_MS = 1000;
export const RADIO_ACK_SECONDS = 10;
export const RADIO_TX_RAW_SECONDS = 60;
export const MISMATCH_SECONDS = 10;

const radioTx: TestCase = {
  ...testManifest(manifest, "radio_tx"),
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
  ...testManifest(manifest, "radio_rx"),
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

function roleFirmware(ctx: TestContext, roleName: string, names: readonly string[]): FirmwareImage[] {
  const images = role(ctx.firmware, roleName, "firmware");
  return names.map((n) => {
    const image = images[n];
    if (!image) throw new Error(`image ${n} for role ${roleName} is missing from the test context`);
    return image;
  });
}

/** The images a role had at job start, so a test that reflashed it can leave it as it found it. */
function jobStartFirmware(ctx: TestContext, roleName: string): FirmwareImage[] {
  const r = manifest.roles.find((x) => x.name === roleName);
  return roleFirmware(ctx, roleName, r?.firmware ?? []);
}

/** Flashes `images`; a flash failure is an infrastructure error, reported as such. */
async function reflash(board: Board, images: FirmwareImage[], signal: AbortSignal): Promise<TestOutcome | undefined> {
  try {
    await board.flash(images, signal);
    return undefined;
  } catch (err) {
    if (err instanceof FlashError) return { status: "error", message: `flashing ${board.name} failed (${err.code}): ${err.message}` };
    throw err;
  }
}

const radioAck: TestCase = {
  ...testManifest(manifest, "radio_ack"),
  async run(ctx: TestContext): Promise<TestOutcome> {
    const tx = role(ctx.boards, "tx", "board");
    const rx = role(ctx.boards, "rx", "board");
    const sniffer = role(ctx.boards, "sniffer", "board");
    const log = role(ctx.consoles, "sniffer", "console log");
    try {
      await tx.halt();
      await rx.reset();
      await sniffer.reset();
      await ctx.clock.sleep(100, ctx.signal);
      await sniffer.serial.write("channel 26\r\nreceive\r\n");
      await ctx.clock.sleep(RX_STARTUP_MS, ctx.signal);
      const start = log.offset();
      await tx.reset();
      ctx.log(`radio_ack: ${tx.name} -> ${rx.name}, ${sniffer.name} sniffing for ${RADIO_ACK_SECONDS} s`);
      await ctx.clock.sleep(RADIO_ACK_SECONDS * 1000, ctx.signal);
      const end = log.offset();
      const verdict = judgeRadioAck(log.textSince(start), RADIO_ACK_SECONDS);
      return {
        status: verdict.pass ? "pass" : "fail",
        message: verdict.message,
        measurements: verdict.measurements,
        logSpan: { role: "sniffer", start, end },
      };
    } finally {
      await tx.halt();
      await rx.halt();
      await sniffer.halt();
    }
  },
};

const radioTxRaw: TestCase = {
  ...testManifest(manifest, "radio_tx_raw"),
  async run(ctx: TestContext): Promise<TestOutcome> {
    const tx = role(ctx.boards, "tx", "board");
    const rx = role(ctx.boards, "rx", "board");
    const log = role(ctx.consoles, "rx", "console log");
    try {
      const flashed = await reflash(tx, roleFirmware(ctx, "tx", ["nrf52840dk-thread-tutorial", "radio_tx_raw"]), ctx.signal);
      if (flashed) return flashed;
      await rx.reset();
      const start = log.offset();
      await ctx.clock.sleep(RX_STARTUP_MS, ctx.signal);
      await tx.reset();
      ctx.log(`radio_tx_raw: ${tx.name} (thread-tutorial kernel) -> ${rx.name} for ${RADIO_TX_RAW_SECONDS} s`);
      await ctx.clock.sleep(RADIO_TX_RAW_SECONDS * 1000, ctx.signal);
      const end = log.offset();
      const verdict = judgeRadioTxRaw(log.textSince(start), RADIO_TX_RAW_SECONDS);
      return {
        status: verdict.pass ? "pass" : "fail",
        message: verdict.message,
        measurements: verdict.measurements,
        logSpan: { role: "rx", start, end },
      };
    } finally {
      await rx.halt();
      // Leave the transmitter as the job flashed it for the tests that follow.
      await tx.flash(jobStartFirmware(ctx, "tx"), ctx.signal).catch(() => undefined);
    }
  },
};

const radioChannelMismatch: TestCase = {
  ...testManifest(manifest, "radio_channel_mismatch"),
  async run(ctx: TestContext): Promise<TestOutcome> {
    const tx = role(ctx.boards, "tx", "board");
    const rx = role(ctx.boards, "rx", "board");
    const rxLog = role(ctx.consoles, "rx", "console log");
    const txLog = role(ctx.consoles, "tx", "console log");
    try {
      const flashed = await reflash(rx, roleFirmware(ctx, "rx", ["nrf52840dk-ch11", "radio_rx"]), ctx.signal);
      if (flashed) return flashed;
      await tx.halt();
      await rx.reset();
      const start = rxLog.offset();
      await ctx.clock.sleep(RX_STARTUP_MS, ctx.signal);
      const txStart = txLog.offset();
      await tx.reset();
      await ctx.clock.sleep(MISMATCH_SECONDS * 1000, ctx.signal);
      const end = rxLog.offset();
      const rxText = rxLog.textSince(start);
      const { received, malformedBlocks } = countRxBlocks(rxText);
      const { transmitted } = countTransmissions(txLog.textSince(txStart));
      const listening = rxText.includes("Receiving...");
      const anyBlock = rxText.split("\n").filter((l) => l.startsWith("Received packet")).length;
      const measurements = { received, malformedBlocks, anyBlock, transmitted, receiverListening: listening };
      const logSpan = { role: "rx", start, end };
      // Silence proves nothing unless the transmitter really sent and the receiver really listened.
      if (!listening || transmitted < 0.95 * 4 * MISMATCH_SECONDS) {
        return {
          status: "error",
          message:
            `radio_channel_mismatch: check is void: transmitter printed ${transmitted} of ${4 * MISMATCH_SECONDS} transmissions, ` +
            `receiver ${listening ? "was" : "was not"} listening`,
          measurements,
          logSpan,
        };
      }
      if (anyBlock > 0) {
        return {
          status: "fail",
          message: `radio_channel_mismatch: receiver on channel 11 printed ${anyBlock} packets from a channel-26 transmitter`,
          measurements,
          logSpan,
        };
      }
      return {
        status: "pass",
        message: `receiver on channel 11 heard nothing while ${transmitted} frames were sent on channel 26`,
        measurements,
        logSpan,
      };
    } finally {
      await tx.halt();
      await rx.flash(jobStartFirmware(ctx, "rx"), ctx.signal).catch(() => undefined);
    }
  },
};

export const suite: Suite = { manifest, tests: [radioTx, radioRx, radioAck, radioTxRaw, radioChannelMismatch] };
export default suite;
