/**
 * Tock's Ethernet path below userspace: a MAC model on a segment port (STM32F429 ETH over RMII, or VirtIO-net on
 * QEMU) and the `ethernet_tap` capsule (driver 0x30007) on top of it. Limits are the capsule's: one frame in
 * flight (BUSY), frames longer than MAX_MTU rejected (SIZE), and a bounded per-process receive queue whose
 * overflow is counted in `rx_dropped`.
 */
import type { Scheduler } from "../scheduler.ts";
import { fcsValid } from "./ethernet.ts";
import type { SegmentPort } from "./segment.ts";

export const TAP_DRIVER_NUM = 0x30007;
export const TAP_MAX_MTU = 1518;
/** Frames the process's receive buffer holds before the capsule drops (libtock-c's lwip example: 8). */
export const TAP_RX_SLOTS = 8;

export const TapStatus = { SUCCESS: 0, FAIL: -1, BUSY: -2, OFF: -4, INVAL: -6, SIZE: -7 } as const;

export function tapStatusName(rc: number): string {
  return Object.entries(TapStatus).find(([, v]) => v === rc)?.[0] ?? String(rc);
}

export type MacStats = { rxFrames: number; rxCrcErrors: number; txFrames: number; txNoCarrier: number };

/** A MAC on a segment port: appends/checks the FCS, DMA-completes a transmission when its last bit left. */
export class EthernetMac {
  readonly port: SegmentPort;
  readonly #sched: Scheduler;
  onReceive: ((frame: Uint8Array) => void) | undefined;
  stats: MacStats = { rxFrames: 0, rxCrcErrors: 0, txFrames: 0, txNoCarrier: 0 };

  constructor(sched: Scheduler, port: SegmentPort) {
    this.#sched = sched;
    this.port = port;
    port.onWire = (wire) => {
      if (!fcsValid(wire)) {
        this.stats.rxCrcErrors++;
        return;
      }
      this.stats.rxFrames++;
      this.onReceive?.(wire.subarray(0, wire.length - 4));
    };
  }

  /** Sends a frame without FCS; `done` runs when the DMA would report completion (the frame is lost without carrier). */
  transmit(frame: Uint8Array, done: () => void): void {
    const end = this.port.transmit(frame);
    if (end === undefined) {
      this.stats.txNoCarrier++;
      this.#sched.after(Math.ceil(((frame.length + 24) * 80) / 1000), done);
      return;
    }
    this.stats.txFrames++;
    this.#sched.at(end, done);
  }

  powerOff(): void {
    this.port.enabled = false;
  }

  powerOn(): void {
    this.port.enabled = true;
  }
}

export type TapStats = { rxFrames: number; rxBytes: number; rxDropped: number; txFrames: number; txBytes: number };

export type TapClient = {
  /** Command 3: transmit. Returns SUCCESS (completion upcall follows), BUSY or SIZE immediately. */
  transmit(frame: Uint8Array, id: number, done: (status: number, length: number, id: number) => void): number;
  /** Frames waiting in the process's receive buffer, oldest first; reading empties it. */
  read(): Uint8Array[];
  /** Upcall 1: frames available. */
  onFramesAvailable(fn: () => void): void;
  rxStats(): Pick<TapStats, "rxFrames" | "rxBytes" | "rxDropped">;
  txStats(): Pick<TapStats, "txFrames" | "txBytes">;
};

/** What the tap capsule needs from the MAC below it (the Ethernet HIL): frames without FCS both ways. */
export type FrameLink = { transmit(frame: Uint8Array, done: () => void): void; onReceive: ((frame: Uint8Array) => void) | undefined };

/** The capsule: frames from the MAC are offered to every open process (MacVTap-VEPA-like). */
export class EthernetTap {
  readonly #sched: Scheduler;
  readonly #mac: FrameLink;
  #inFlight = false;
  readonly #clients: {
    alive: () => boolean;
    queue: Uint8Array[];
    stats: TapStats;
    notify: (() => void) | undefined;
    notifyPending: boolean;
  }[] = [];

  constructor(sched: Scheduler, mac: FrameLink) {
    this.#sched = sched;
    this.#mac = mac;
    mac.onReceive = (frame) => this.#receive(frame);
  }

  open(alive: () => boolean): TapClient {
    const c = {
      alive,
      queue: [] as Uint8Array[],
      stats: { rxFrames: 0, rxBytes: 0, rxDropped: 0, txFrames: 0, txBytes: 0 },
      notify: undefined as (() => void) | undefined,
      notifyPending: false,
    };
    this.#clients.push(c);
    return {
      transmit: (frame, id, done) => {
        if (frame.length > TAP_MAX_MTU) return TapStatus.SIZE;
        if (this.#inFlight) return TapStatus.BUSY;
        this.#inFlight = true;
        const copy = frame.slice();
        this.#mac.transmit(copy, () => {
          this.#inFlight = false;
          c.stats.txFrames++;
          c.stats.txBytes += copy.length;
          if (c.alive()) done(TapStatus.SUCCESS, copy.length, id);
        });
        return TapStatus.SUCCESS;
      },
      read: () => {
        const frames = c.queue;
        c.queue = [];
        return frames;
      },
      onFramesAvailable: (fn) => {
        c.notify = fn;
      },
      rxStats: () => ({ rxFrames: c.stats.rxFrames, rxBytes: c.stats.rxBytes, rxDropped: c.stats.rxDropped }),
      txStats: () => ({ txFrames: c.stats.txFrames, txBytes: c.stats.txBytes }),
    };
  }

  /** Stops and forgets every client (board reset). */
  reset(): void {
    this.#clients.length = 0;
    this.#inFlight = false;
  }

  #receive(frame: Uint8Array): void {
    for (const c of this.#clients) {
      if (!c.alive()) continue;
      if (c.queue.length >= TAP_RX_SLOTS) {
        c.stats.rxDropped++;
        continue;
      }
      c.queue.push(frame.slice());
      c.stats.rxFrames++;
      c.stats.rxBytes += frame.length;
      if (!c.notifyPending && c.notify) {
        c.notifyPending = true;
        // The upcall is delivered when the process is next scheduled, a few microseconds later.
        this.#sched.after(20, () => {
          c.notifyPending = false;
          if (c.alive()) c.notify?.();
        });
      }
    }
  }
}
