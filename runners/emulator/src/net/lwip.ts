/**
 * The userspace side of libtock-c's lwIP port over the tap driver: a netif whose link output queues frames and
 * hands them to the capsule one at a time (the capsule takes one in flight), and whose input drains the tap's
 * receive buffer on the "frames available" upcall. An app can hold reception (`holdRx`) to model being busy.
 */
import type { ProcessContext } from "../boards/kernel-core.ts";
import type { Mac } from "./ethernet.ts";
import { IpStack } from "./stack.ts";
import type { TapClient } from "./tap.ts";
import { TAP_MAX_MTU, TapStatus, tapStatusName } from "./tap.ts";

export type NetDrivers = { tap: TapClient | undefined };

export type LwipNetif = {
  stack: IpStack;
  /** True while a frame is in the capsule. */
  readonly txBusy: boolean;
  holdRx(hold: boolean): void;
};

export function createNetif(ctx: ProcessContext<unknown>, tap: TapClient, mac: Mac, ip: number): LwipNetif {
  const queue: Uint8Array[] = [];
  let inFlight = false;
  let held = false;
  let txId = 0;
  const pump = (): void => {
    if (inFlight) return;
    const frame = queue.shift();
    if (!frame) return;
    const rc = tap.transmit(
      frame,
      txId++,
      ctx.guard((status) => {
        inFlight = false;
        if (status !== TapStatus.SUCCESS)
          ctx.print(`-> frame_tx_upcall error, statuscode: ${(status & 0xffff).toString(16).padStart(4, "0")}\n`);
        pump();
      }),
    );
    if (rc === TapStatus.SUCCESS) inFlight = true;
    else if (rc === TapStatus.BUSY) {
      // Someone else's frame is in the capsule (another process, or a raw transmit): try again shortly.
      queue.unshift(frame);
      ctx.after(1, pump);
    } else {
      ctx.print(`-> packet tx failed: ${rc}\n`);
      pump();
    }
  };
  const stack = new IpStack({
    mac,
    ip,
    issSeed: ctx.pid + 7,
    hooks: {
      send: (frame) => {
        if (frame.length > TAP_MAX_MTU) return false;
        queue.push(frame);
        pump();
        return true;
      },
      after: (ms, fn) => ctx.after(ms, fn),
      nowUs: () => ctx.nowMs() * 1000,
    },
  });
  const drain = (): void => {
    if (held) return;
    for (const f of tap.read()) stack.input(f);
  };
  tap.onFramesAvailable(ctx.guard(drain));
  return {
    stack,
    get txBusy() {
      return inFlight || queue.length > 0;
    },
    holdRx(hold) {
      held = hold;
      if (!hold) drain();
    },
  };
}

export { tapStatusName };
