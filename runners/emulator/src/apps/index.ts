/** App models by TBF package name. A package name not listed here is loaded but runs nothing we can model. */
import type { AppModel } from "./runtime.ts";
import { radioRx } from "./radio-rx.ts";
import { radioTx } from "./radio-tx.ts";

export const appModels: ReadonlyMap<string, AppModel> = new Map<string, AppModel>([
  ["radio_tx", radioTx],
  ["radio_rx", radioRx],
]);
