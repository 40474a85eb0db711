/**
 * How app models talk to the emulated kernel.
 *
 * An app model is a generator: it yields a blocking syscall (print, delay, send, receive) and the kernel resumes it
 * with the result when the modelled operation completes in virtual time. Generators (rather than async functions)
 * keep every step synchronous inside the scheduler's event, so an app reacts at the exact virtual instant its
 * syscall completed, and runs are deterministic. Non-blocking commands (set address, radio on, ...) are plain
 * calls on `AppSys` that return a libtock-c return code.
 */

/** libtock-c return codes (libtock/tock.h). */
export const ReturnCode = {
  SUCCESS: 0,
  FAIL: -1,
  EBUSY: -2,
  EALREADY: -3,
  EOFF: -4,
  EINVAL: -6,
  ESIZE: -7,
  ENOSUPPORT: -10,
  ENOACK: -13,
} as const;

export type BlockingSyscall =
  | { op: "print"; text: string }
  | { op: "delay"; ms: number }
  | { op: "send"; dst: number; payload: Uint8Array }
  /** Waits for the next slot of the RX ring: | header_len | payload_len | mic_len | frame without FCS |. */
  | { op: "receive" };

export type AppProgram = Generator<BlockingSyscall, void, unknown>;

/** Commands that complete immediately, as Tock `command` syscalls do. */
export type AppSys = {
  ieee802154SetShortAddress(addr: number): number;
  ieee802154SetPan(pan: number): number;
  ieee802154ConfigCommit(): number;
  ieee802154Up(): number;
};

export type AppModel = (sys: AppSys) => AppProgram;

export function* print(text: string): Generator<BlockingSyscall, void, unknown> {
  yield { op: "print", text };
}

export function* delayMs(ms: number): Generator<BlockingSyscall, void, unknown> {
  yield { op: "delay", ms };
}

/** Synchronous 15.4 send (libtocksync_ieee802154_send): resolves to the return code; `acked` is ignored. */
export function* send(dst: number, payload: Uint8Array): Generator<BlockingSyscall, number, unknown> {
  return (yield { op: "send", dst, payload }) as number;
}

export function* receive(): Generator<BlockingSyscall, Uint8Array, unknown> {
  return (yield { op: "receive" }) as Uint8Array;
}
