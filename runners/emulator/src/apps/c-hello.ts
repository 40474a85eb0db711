/** Model of libtock-c `examples/c_hello`: one line, then the process returns (Terminated). */
import type { AppModel } from "./runtime.ts";
import { print } from "./runtime.ts";

export const C_HELLO_LINE = "Hello World!";

export const cHello: AppModel = function* () {
  yield* print(`${C_HELLO_LINE}\r\n`);
};
