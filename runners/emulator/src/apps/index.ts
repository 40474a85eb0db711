/** App models by TBF package name. A package name not listed here is loaded but runs nothing we can model. */
import { openthreadHello, openthreadUdpRx, openthreadUdpTx } from "../ot/apps.ts";
import { cHello } from "./c-hello.ts";
import type { AppModel } from "./runtime.ts";
import { radioRx } from "./radio-rx.ts";
import { radioTxRaw } from "./radio-tx-raw.ts";
import { radioTx } from "./radio-tx.ts";

export const appModels: ReadonlyMap<string, AppModel> = new Map<string, AppModel>([
  ["radio_tx", radioTx],
  ["radio_rx", radioRx],
  ["radio_tx_raw", radioTxRaw],
  ["c_hello", cHello],
  ["openthread_hello", openthreadHello],
  ["openthread_udp_rx", openthreadUdpRx],
  ["openthread_udp_tx", openthreadUdpTx],
]);
