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
  | { op: "receive" }
  /** Raw interface (command 27): the app supplies MHR + payload; the radio appends the FCS. Resolves to a return code. */
  | { op: "sendRaw"; frame: Uint8Array }
  /**
   * libtock-c's event loop: sleep until a frame arrives in the RX ring (resolves to its slot) or `ms` pass
   * (resolves to undefined), like `yield` with an alarm armed and a receive callback subscribed.
   */
  | { op: "wait"; ms: number };

export type AppProgram = Generator<BlockingSyscall, void, unknown>;

/** Commands that complete immediately, as Tock `command` syscalls do. */
export type AppSys = {
  ieee802154SetShortAddress(addr: number): number;
  ieee802154SetPan(pan: number): number;
  ieee802154ConfigCommit(): number;
  ieee802154Up(): number;
  /** Raw interface only (command 5): tune the radio; ENOSUPPORT on the MAC interface. */
  ieee802154SetChannel(channel: number): number;
  /** Alarm driver: the board's current time in ms. */
  nowMs(): number;
  /** RNG driver: 32 random bits from the board's seeded entropy source. */
  random32(): number;
  /** The chip's factory EUI-64 (FICR DEVICEID), 8 octets. */
  deviceEui64(): Uint8Array;
  /** Emulation-only knobs an app model may honour to reproduce a session fault (never set on real hardware). */
  readonly emulation: { wrongNetworkKey: boolean };
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

export function* sendRaw(frame: Uint8Array): Generator<BlockingSyscall, number, unknown> {
  return (yield { op: "sendRaw", frame }) as number;
}

/** Waits for a frame or `ms`; undefined on timeout. */
export function* waitFrame(ms: number): Generator<BlockingSyscall, Uint8Array | undefined, unknown> {
  return (yield { op: "wait", ms }) as Uint8Array | undefined;
}
