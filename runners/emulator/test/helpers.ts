/** Shared helpers for the emulator's behavioural tests. */
import type { FirmwareImage } from "@tock-hil/board";
import type { BuildOptions } from "../src/firmware.ts";
import { buildFirmware } from "../src/firmware.ts";
import type { EmulatedBoard } from "../src/board.ts";

export function image(name: string, options?: BuildOptions): FirmwareImage {
  const fw = buildFirmware(name, options);
  return { name: fw.name, kind: fw.kind, sha256: fw.sha256, bytes: fw.bytes };
}

/** Records everything a board prints, as text. */
export function record(board: EmulatedBoard): { text(): string } {
  const chunks: string[] = [];
  const dec = new TextDecoder();
  board.serial.onData((c) => chunks.push(dec.decode(c)));
  return { text: () => chunks.join("") };
}

export function countLines(text: string, line: string): number {
  return text.split("\n").filter((l) => l.replace(/\r$/, "") === line).length;
}

export const RX_BLOCK =
  [
    "Received packet with payload of 60 bytes from offset 12",
    "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f",
    "10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f",
    "20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f",
    "30 31 32 33 34 35 36 37 38 39 3a 3b",
    "Packet destination PAN ID: 0xabcd",
    "Packet destination address: 0x0802",
    "Packet source PAN ID: 0xabcd",
    "Packet source address: 0x1540",
  ].join("\n") + "\n";

export function countBlocks(text: string): number {
  return text.split(RX_BLOCK).length - 1;
}
