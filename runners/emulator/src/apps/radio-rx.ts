/**
 * Model of libtock-c `examples/tests/ieee802154/radio_rx`.
 *
 * Everything printed per frame is decoded here from the ring-buffer slot the kernel filled with the received
 * bytes (lengths from the slot header, addresses and PANs by parsing the MHR), never from constants, so a frame
 * that was not really received cannot produce a block.
 */
import { decodeFrame } from "../frame.ts";
import type { MacAddress } from "../frame.ts";
import type { AppModel } from "./runtime.ts";
import { ReturnCode, print, receive } from "./runtime.ts";

export const RADIO_RX_ADDRESS = 0x0802;
export const RADIO_RX_PAN = 0xabcd;

const hex2 = (b: number): string => b.toString(16).padStart(2, "0");
const hex4 = (v: number): string => `0x${v.toString(16).padStart(4, "0")}`;

function addressText(a: MacAddress): string {
  if (a.mode === "short") return ` ${hex4(a.value)}`;
  if (a.mode === "extended") return [...a.value].map((b) => ` ${hex2(b)}`).join("");
  return " not present";
}

/** Renders the block libtock-c's radio_rx prints for one ring-buffer slot; exported for tests. */
export function describeSlot(slot: Uint8Array): string {
  const headerLen = slot[0] ?? 0;
  const payloadLen = slot[1] ?? 0;
  const micLen = slot[2] ?? 0;
  const offset = 3 + headerLen;
  const payload = slot.subarray(offset, offset + payloadLen);
  const lines = [`Received packet with payload of ${payloadLen} bytes from offset ${offset}`];
  for (let i = 0; i < payload.length; i += 16) {
    lines.push([...payload.subarray(i, i + 16)].map(hex2).join(" "));
  }
  const { frame } = decodeFrame(slot.subarray(3, 3 + headerLen + payloadLen + micLen));
  const pan = (p: number | undefined): string => (p === undefined ? " not present" : ` ${hex4(p)}`);
  lines.push(`Packet destination PAN ID:${pan(frame.dstPan)}`);
  lines.push(`Packet destination address:${addressText(frame.dst)}`);
  lines.push(`Packet source PAN ID:${pan(frame.srcPan)}`);
  lines.push(`Packet source address:${addressText(frame.src)}`);
  return lines.map((l) => `${l}\n`).join("");
}

export const radioRx: AppModel = function* (sys) {
  yield* print("[IEEE802.15.4] Receive\n");
  let err = sys.ieee802154SetShortAddress(RADIO_RX_ADDRESS);
  if (err !== ReturnCode.SUCCESS) yield* print(`Error: could not set address (${err})\n`);
  err = sys.ieee802154SetPan(RADIO_RX_PAN);
  if (err !== ReturnCode.SUCCESS) yield* print(`Error: could not set PAN ID (${err})\n`);
  err = sys.ieee802154ConfigCommit();
  if (err !== ReturnCode.SUCCESS) yield* print(`Error: could not commit config (${err})\n`);
  err = sys.ieee802154Up();
  if (err !== ReturnCode.SUCCESS) yield* print(`Error: could not turn radio on (${err})\n`);
  yield* print("Receiving...\n");
  for (;;) {
    const slot = yield* receive();
    let block: string;
    try {
      block = describeSlot(slot);
    } catch {
      // The kernel only hands over frames it parsed itself, so this is unreachable short of a kernel model bug.
      continue;
    }
    for (const line of block.split(/(?<=\n)/)) yield* print(line);
  }
};
