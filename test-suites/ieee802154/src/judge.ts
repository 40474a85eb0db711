/**
 * Pure verdict logic: serial text in, counts out. Kept free of any board access so it can be tested with
 * synthetic transcripts and reused to re-judge a stored log.
 */

export const TX_SUCCESS_LINE = "Transmitted successfully.";
const TX_FAILED = /^Transmit failed with error -?\d+\.$/;

/** The exact block radio_rx prints for one radio_tx frame (what Tensile greps). */
export const RX_BLOCK_LINES: readonly string[] = [
  "Received packet with payload of 60 bytes from offset 12",
  "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f",
  "10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f",
  "20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f",
  "30 31 32 33 34 35 36 37 38 39 3a 3b",
  "Packet destination PAN ID: 0xabcd",
  "Packet destination address: 0x0802",
  "Packet source PAN ID: 0xabcd",
  "Packet source address: 0x1540",
];
const BLOCK_START = "Received packet with payload of";

/** The block radio_rx (MAC kernel) prints for a radio_tx_raw frame: broadcast, extended all-zero source. */
export const RAW_RX_BLOCK_LINES: readonly string[] = [
  "Received packet with payload of 60 bytes from offset 18",
  ...RX_BLOCK_LINES.slice(1, 5),
  "Packet destination PAN ID: 0xabcd",
  "Packet destination address: 0xffff",
  "Packet source PAN ID: 0xabcd",
  "Packet source address: 00 00 00 00 00 00 00 00",
];
/** radio_tx_raw sends one frame every 500 ms. */
export const TX_RAW_PER_SECOND = 2;

/** Packets radio_tx sends per second (one every 250 ms). */
export const TX_PER_SECOND = 4;
export const TX_THRESHOLD = 0.95;
export const RX_THRESHOLD = 0.5;

/**
 * Complete lines of a transcript: split on "\n", "\r" stripped. A trailing fragment without its newline is not a
 * line yet (the window closed mid-print) and is left out, so it can neither count nor be called malformed.
 */
export function completeLines(text: string): string[] {
  const parts = text.split("\n");
  parts.pop();
  return parts.map((l) => l.replace(/\r+$/, "").replace(/^\r+/, ""));
}

export type TxCounts = { transmitted: number; failedTransmits: number };

export function countTransmissions(text: string): TxCounts {
  let transmitted = 0;
  let failedTransmits = 0;
  for (const line of completeLines(text)) {
    if (line === TX_SUCCESS_LINE) transmitted++;
    else if (TX_FAILED.test(line)) failedTransmits++;
  }
  return { transmitted, failedTransmits };
}

export type RxCounts = { received: number; malformedBlocks: number };

/**
 * Counts exact 9-line blocks. Any other block (a header line not followed by the exact 8 lines: wrong payload,
 * addresses, or an interruption) is malformed; scanning resumes on the next line so a block that starts inside a
 * broken one is still found. A correct-so-far block cut off by the end of the transcript is neither.
 */
export function countRxBlocks(text: string, block: readonly string[] = RX_BLOCK_LINES): RxCounts {
  const lines = completeLines(text);
  let received = 0;
  let malformedBlocks = 0;
  let i = 0;
  while (i < lines.length) {
    if (!(lines[i] ?? "").startsWith(BLOCK_START)) {
      i++;
      continue;
    }
    let matched = 0;
    while (matched < block.length && i + matched < lines.length && lines[i + matched] === block[matched]) matched++;
    if (matched === block.length) {
      received++;
      i += block.length;
      continue;
    }
    const cutOffByEnd = i + matched === lines.length;
    if (!cutOffByEnd) malformedBlocks++;
    i++;
  }
  return { received, malformedBlocks };
}

const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;

export type Verdict = {
  pass: boolean;
  message: string | undefined;
  measurements: Record<string, number>;
};

/** radio_tx verdict: at least 95% of 4 x duration "Transmitted successfully." lines. */
export function judgeRadioTx(text: string, durationSeconds: number): Verdict {
  const { transmitted, failedTransmits } = countTransmissions(text);
  const expected = TX_PER_SECOND * durationSeconds;
  const ratio = expected > 0 ? transmitted / expected : 0;
  const pass = transmitted >= TX_THRESHOLD * expected;
  return {
    pass,
    message: pass
      ? undefined
      : `radio_tx: ${transmitted} of ${expected} expected "${TX_SUCCESS_LINE}" lines (${pct(ratio)}), needs ${pct(TX_THRESHOLD).replace(".0%", "%")}` +
        (failedTransmits > 0 ? `; ${failedTransmits} "Transmit failed" lines` : ""),
    measurements: { transmitted, expected, ratio, threshold: TX_THRESHOLD, failedTransmits },
  };
}

/** radio_rx verdict: at least 50% of 4 x duration exact blocks. */
export function judgeRadioRx(text: string, durationSeconds: number): Verdict {
  const { received, malformedBlocks } = countRxBlocks(text);
  const expected = TX_PER_SECOND * durationSeconds;
  const ratio = expected > 0 ? received / expected : 0;
  const pass = received >= RX_THRESHOLD * expected;
  return {
    pass,
    message: pass
      ? undefined
      : `radio_rx: received ${received} of ${expected} expected packets (${pct(ratio)}), needs ${pct(RX_THRESHOLD).replace(".0%", "%")}` +
        (malformedBlocks > 0 ? `; ${malformedBlocks} malformed blocks` : ""),
    measurements: { received, expected, ratio, threshold: RX_THRESHOLD, malformedBlocks },
  };
}

/** radio_tx_raw verdict (Tensile): at least 50% of 2 x duration exact raw blocks on the receiver. */
export function judgeRadioTxRaw(text: string, durationSeconds: number): Verdict {
  const { received, malformedBlocks } = countRxBlocks(text, RAW_RX_BLOCK_LINES);
  const expected = TX_RAW_PER_SECOND * durationSeconds;
  const ratio = expected > 0 ? received / expected : 0;
  const pass = received >= RX_THRESHOLD * expected;
  return {
    pass,
    message: pass
      ? undefined
      : `radio_tx_raw: received ${received} of ${expected} expected raw frames (${pct(ratio)}), needs 50%` +
        (malformedBlocks > 0 ? `; ${malformedBlocks} malformed blocks` : ""),
    measurements: { received, expected, ratio, threshold: RX_THRESHOLD, malformedBlocks },
  };
}

/** One line of the nRF 802.15.4 sniffer firmware, decoded: the PSDU (FCS included) it heard. */
export type SniffedFrame = { psdu: Uint8Array; timeUs: number };

export function parseSnifferLines(text: string): SniffedFrame[] {
  const out: SniffedFrame[] = [];
  for (const line of completeLines(text)) {
    const m = /^received: ([0-9a-f]+) power: -?\d+ lqi: \d+ crc: (ok|bad) time: (\d+)$/.exec(line);
    if (!m || m[2] !== "ok") continue;
    out.push({ psdu: Uint8Array.from(Buffer.from(m[1] ?? "", "hex")), timeUs: Number(m[3]) });
  }
  return out;
}

export const ACK_THRESHOLD = 0.9;
/** aTurnaroundTime (192 us) plus slack for the sniffer's timestamping; an ACK later than this answers nothing. */
export const ACK_WINDOW_US = 1000;

/**
 * radio_ack verdict from a sniffer's view: data frames 0x1540 -> 0x0802 with AR=1, and for each, an Imm-Ack with
 * the same sequence number starting within ACK_WINDOW_US after the data frame. The transmitter cannot report
 * this itself: the nRF driver never waits for ACKs.
 */
export function judgeRadioAck(snifferText: string, durationSeconds: number): Verdict {
  const frames = parseSnifferLines(snifferText);
  let dataFrames = 0;
  let acked = 0;
  for (const [i, f] of frames.entries()) {
    const p = f.psdu;
    const isData = p.length === 71 && p[0] === 0x61 && p[1] === 0x98 && p[5] === 0x02 && p[6] === 0x08 && p[7] === 0x40 && p[8] === 0x15;
    if (!isData) continue;
    dataFrames++;
    const next = frames[i + 1];
    const endUs = f.timeUs + (6 + p.length) * 32;
    if (next && next.psdu.length === 5 && next.psdu[0] === 0x02 && next.psdu[1] === 0x00 && next.psdu[2] === p[2]) {
      if (next.timeUs >= endUs && next.timeUs - endUs <= ACK_WINDOW_US) acked++;
    }
  }
  const expected = TX_PER_SECOND * durationSeconds;
  const ackRatio = dataFrames > 0 ? acked / dataFrames : 0;
  const enoughData = dataFrames >= RX_THRESHOLD * expected;
  const pass = enoughData && ackRatio >= ACK_THRESHOLD;
  return {
    pass,
    message: pass
      ? undefined
      : !enoughData
        ? `radio_ack: the sniffer saw only ${dataFrames} of ${expected} expected data frames 0x1540 -> 0x0802`
        : `radio_ack: ${acked} of ${dataFrames} data frames were acknowledged (${pct(ackRatio)}), needs ${pct(ACK_THRESHOLD).replace(".0%", "%")}`,
    measurements: { dataFrames, acked, ackRatio, expected, threshold: ACK_THRESHOLD },
  };
}
