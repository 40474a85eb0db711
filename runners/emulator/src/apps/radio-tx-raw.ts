/**
 * Model of libtock-c `examples/tests/ieee802154/radio_tx_raw` on the raw (thread-tutorial) kernel: every 500 ms a
 * hand-built 75-octet frame (FCF 0xd841: data, PAN ID compression, short destination 0xffff, extended source,
 * 2006, no ACK request) with payload 00..3b. Reproduces the app's bug: the sequence number is incremented in a
 * copy and never written back, so every frame carries sequence number 0.
 */
import type { AppModel } from "./runtime.ts";
import { ReturnCode, delayMs, print, sendRaw } from "./runtime.ts";

export const RADIO_TX_RAW_PAN = 0xabcd;
/**
 * Long address the app reads back from the thread-tutorial kernel: nothing sets one, so it is all zeros (what
 * Tensile's expected output shows as the source address).
 */
export const RAW_KERNEL_LONG_ADDRESS = new Uint8Array(8);
export const RADIO_TX_RAW_PERIOD_MS = 500;

export function rawFrame(seq: number, longAddress: Uint8Array): Uint8Array {
  const frame = new Uint8Array(15 + 60);
  frame.set([0x41, 0xd8, seq & 0xff, RADIO_TX_RAW_PAN & 0xff, RADIO_TX_RAW_PAN >> 8, 0xff, 0xff], 0);
  frame.set(longAddress, 7);
  for (let i = 0; i < 60; i++) frame[15 + i] = i;
  return frame;
}

export const radioTxRaw: AppModel = function* (sys) {
  sys.ieee802154SetPan(RADIO_TX_RAW_PAN);
  sys.ieee802154ConfigCommit();
  sys.ieee802154Up();
  const sequenceNumber = 0;
  for (;;) {
    // `sequence_number++` in the C source modifies a local copy: what goes on the air is always 0.
    const err = yield* sendRaw(rawFrame(sequenceNumber, RAW_KERNEL_LONG_ADDRESS));
    if (err === ReturnCode.SUCCESS) yield* print("Transmitted successfully.\n");
    else if (err === ReturnCode.ENOACK) yield* print("Transmitted but packet not acknowledged.\n");
    else yield* print(`Transmit failed with error ${err}.\n`);
    yield* delayMs(RADIO_TX_RAW_PERIOD_MS);
  }
};
