/** Model of libtock-c `examples/tests/ieee802154/radio_tx`. */
import type { AppModel } from "./runtime.ts";
import { ReturnCode, delayMs, print, send } from "./runtime.ts";

export const RADIO_TX_ADDRESS = 0x1540;
export const RADIO_TX_PAN = 0xabcd;
export const RADIO_TX_DESTINATION = 0x0802;
export const RADIO_TX_PAYLOAD_LENGTH = 60;
export const RADIO_TX_PERIOD_MS = 250;

export const radioTx: AppModel = function* (sys) {
  const payload = new Uint8Array(RADIO_TX_PAYLOAD_LENGTH);
  for (let i = 0; i < payload.length; i++) payload[i] = i;
  sys.ieee802154SetShortAddress(RADIO_TX_ADDRESS);
  sys.ieee802154SetPan(RADIO_TX_PAN);
  sys.ieee802154ConfigCommit();
  sys.ieee802154Up();
  for (;;) {
    const err = yield* send(RADIO_TX_DESTINATION, payload);
    if (err === ReturnCode.SUCCESS) yield* print("Transmitted successfully.\n");
    else if (err === ReturnCode.ENOACK) yield* print("Transmitted but packet not acknowledged.\n");
    else yield* print(`Transmit failed with error ${err}.\n`);
    yield* delayMs(RADIO_TX_PERIOD_MS);
  }
};
