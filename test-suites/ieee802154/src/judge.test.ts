import { describe, expect, it } from "vitest";
import { RX_BLOCK_LINES, completeLines, countRxBlocks, countTransmissions, judgeRadioRx, judgeRadioTx } from "./judge.ts";

const BLOCK = RX_BLOCK_LINES.join("\n") + "\n";
const CRLF_BLOCK = RX_BLOCK_LINES.join("\r\n") + "\r\n";
const repeat = (s: string, n: number): string => s.repeat(n);

describe("completeLines", () => {
  it("strips \\r and drops an unterminated trailing fragment", () => {
    expect(completeLines("a\r\nb\nc")).toEqual(["a", "b"]);
    expect(completeLines("")).toEqual([]);
  });
});

describe("countTransmissions", () => {
  it("counts only exact success lines and separately the failures", () => {
    const text =
      "Initialization complete. Entering main loop\r\n" +
      "Transmitted successfully.\n" +
      "Transmitted successfully.\r\n" +
      "  Transmitted successfully.\n" + // not exact
      "Transmitted successfully. extra\n" +
      "Transmit failed with error -2.\n" +
      "Transmitted but packet not acknowledged.\n" +
      "Transmitted successfully."; // cut off: no newline yet
    expect(countTransmissions(text)).toEqual({ transmitted: 2, failedTransmits: 1 });
  });
});

describe("countRxBlocks", () => {
  it("counts exact blocks with LF or CRLF line endings", () => {
    expect(countRxBlocks("[IEEE802.15.4] Receive\nReceiving...\n" + repeat(BLOCK, 3))).toEqual({ received: 3, malformedBlocks: 0 });
    expect(countRxBlocks(repeat(CRLF_BLOCK, 2))).toEqual({ received: 2, malformedBlocks: 0 });
  });

  it("counts a block with a wrong payload byte or address as malformed", () => {
    const badPayload = BLOCK.replace("3a 3b", "3a 3c");
    const badSource = BLOCK.replace("source address: 0x1540", "source address: 0x1541");
    expect(countRxBlocks(BLOCK + badPayload + BLOCK + badSource)).toEqual({ received: 2, malformedBlocks: 2 });
  });

  it("finds a block that starts inside an interrupted one", () => {
    const partial = RX_BLOCK_LINES.slice(0, 4).join("\n") + "\n";
    expect(countRxBlocks(partial + BLOCK)).toEqual({ received: 1, malformedBlocks: 1 });
  });

  it("treats a correct block cut off by the end of the window as neither", () => {
    const cut = RX_BLOCK_LINES.slice(0, 6).join("\n") + "\nPacket destination addr";
    expect(countRxBlocks(BLOCK + cut)).toEqual({ received: 1, malformedBlocks: 0 });
  });

  it("does not count lines that merely look similar or are out of order", () => {
    const shuffled = [RX_BLOCK_LINES[0], ...RX_BLOCK_LINES.slice(1).reverse()].join("\n") + "\n";
    const noHeader = RX_BLOCK_LINES.slice(1).join("\n") + "\n";
    expect(countRxBlocks(shuffled + noHeader)).toEqual({ received: 0, malformedBlocks: 1 });
  });
});

describe("judgeRadioTx", () => {
  it("passes at 95% of 4 per second and fails below with a ratio message", () => {
    const pass = judgeRadioTx(repeat("Transmitted successfully.\n", 38), 10);
    expect(pass.pass).toBe(true);
    expect(pass.measurements).toEqual({ transmitted: 38, expected: 40, ratio: 0.95, threshold: 0.95, failedTransmits: 0 });
    const fail = judgeRadioTx(repeat("Transmitted successfully.\n", 12) + "Transmit failed with error -2.\n", 10);
    expect(fail.pass).toBe(false);
    expect(fail.message).toBe(
      'radio_tx: 12 of 40 expected "Transmitted successfully." lines (30.0%), needs 95%; 1 "Transmit failed" lines',
    );
    expect(judgeRadioTx(repeat("Transmitted successfully.\n", 37), 10).pass).toBe(false);
  });
});

describe("judgeRadioRx", () => {
  it("passes at 50% of 240 and reports the ratio when failing", () => {
    expect(judgeRadioRx(repeat(BLOCK, 120), 60).pass).toBe(true);
    const fail = judgeRadioRx(repeat(BLOCK, 31), 60);
    expect(fail.pass).toBe(false);
    expect(fail.message).toBe("radio_rx: received 31 of 240 expected packets (12.9%), needs 50%");
    expect(fail.measurements).toMatchObject({ received: 31, expected: 240, threshold: 0.5, malformedBlocks: 0 });
    expect(judgeRadioRx(repeat(BLOCK, 119), 60).pass).toBe(false);
  });
});
