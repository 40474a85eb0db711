/**
 * Multi-kernel IPC as designed by the Network WG (notes 2025-07-28, slides by Gongqi Huang): asynchronous
 * discovery across kernels, global process identifiers {kernel instance, process, generation}, dedicated tx/rx
 * buffers with one copy within a kernel (tx -> rx) and two across (tx -> channel slot -> rx), send with a timeout,
 * one message in flight per process, and no fate sharing: a kernel only ever posts into the bounded channel and
 * arms timers, so a dead peer costs it a timeout, never a hang. Stale identifiers (a restarted process has a new
 * generation) are refused.
 */
import type { KernelView } from "../boards/kernel-core.ts";
import type { Scheduler } from "../scheduler.ts";
import type { InterKernelChannel } from "./channel.ts";

export type GlobalId = { kernel: number; pid: number; generation: number };
export const gidString = (g: GlobalId): string => `k${g.kernel}:p${g.pid}:g${g.generation}`;

export const IpcStatus = { OK: 0, FAIL: -1, BUSY: -2, SIZE: -7, NODEVICE: -11, TIMEOUT: -100, STALE: -101 } as const;
export function ipcStatusName(s: number): string {
  return Object.entries(IpcStatus).find(([, v]) => v === s)?.[0] ?? String(s);
}

/** Largest message payload (what fits a channel slot with the header). */
export const IPC_MAX_MESSAGE = 128;
const HEADER = 24;
const MsgType = { DISCOVER: 1, DISCOVER_REPLY: 2, MSG: 3, ACK: 4 } as const;
const LOCAL_US = 10;

export type RxCallback = (src: GlobalId, length: number, copies: number) => void;

export type IpcNgClient = {
  self(): GlobalId;
  discover(name: string, timeoutMs: number, done: (status: number, id: GlobalId | undefined) => void): void;
  registerRx(buffer: Uint8Array, cb: RxCallback): void;
  send(dst: GlobalId, tx: Uint8Array, length: number, timeoutMs: number, done: (status: number) => void): number;
};

export type IpcNgStats = {
  copies: number;
  messagesSent: number;
  messagesDelivered: number;
  timeouts: number;
  staleRefused: number;
  busyRefused: number;
};

type Header = { type: number; status: number; copies: number; seq: number; src: GlobalId; dst: GlobalId; length: number };

function encodeHeader(h: Header): Uint8Array {
  const b = new Uint8Array(HEADER);
  const dv = new DataView(b.buffer);
  b[0] = h.type;
  dv.setInt8(1, h.status);
  b[2] = h.copies;
  dv.setUint32(4, h.seq, true);
  b[8] = h.src.kernel;
  dv.setUint16(10, h.src.pid, true);
  dv.setUint16(12, h.src.generation, true);
  b[14] = h.dst.kernel;
  dv.setUint16(16, h.dst.pid, true);
  dv.setUint16(18, h.dst.generation, true);
  dv.setUint16(20, h.length, true);
  return b;
}

function decodeHeader(b: Uint8Array): Header | undefined {
  if (b.length < HEADER) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const length = dv.getUint16(20, true);
  if (HEADER + length > b.length) return undefined;
  return {
    type: b[0] ?? 0,
    status: dv.getInt8(1),
    copies: b[2] ?? 0,
    seq: dv.getUint32(4, true),
    src: { kernel: b[8] ?? 0, pid: dv.getUint16(10, true), generation: dv.getUint16(12, true) },
    dst: { kernel: b[14] ?? 0, pid: dv.getUint16(16, true), generation: dv.getUint16(18, true) },
    length,
  };
}

const NOBODY: GlobalId = { kernel: 0, pid: 0, generation: 0 };

/** The IPC capsule of one kernel instance. */
export class IpcNg {
  readonly k: 0 | 1;
  readonly #sched: Scheduler;
  readonly #channel: InterKernelChannel;
  readonly #kernel: () => KernelView | undefined;
  readonly #rx = new Map<number, { generation: number; buffer: Uint8Array; cb: RxCallback }>();
  readonly #inflight = new Map<number, { seq: number; done: (status: number) => void }>();
  readonly #discovering = new Map<number, (status: number, id: GlobalId | undefined) => void>();
  #seq = 1;
  #epoch = 0;
  stats: IpcNgStats = { copies: 0, messagesSent: 0, messagesDelivered: 0, timeouts: 0, staleRefused: 0, busyRefused: 0 };

  constructor(k: 0 | 1, sched: Scheduler, channel: InterKernelChannel, kernel: () => KernelView | undefined) {
    this.k = k;
    this.#sched = sched;
    this.#channel = channel;
    this.#kernel = kernel;
  }

  /** Kernel (re)boot or stop: forget all state; late callbacks of the previous epoch are ignored. */
  reset(): void {
    this.#epoch++;
    this.#rx.clear();
    this.#inflight.clear();
    this.#discovering.clear();
  }

  #after(us: number, fn: () => void): void {
    const epoch = this.#epoch;
    this.#sched.after(us, () => epoch === this.#epoch && this.#kernel()?.alive === true && fn());
  }

  #post(h: Header, payload?: Uint8Array): boolean {
    return this.#channel.post(this.k, encodeHeader(h), payload);
  }

  open(pid: number, generation: number, alive: () => boolean): IpcNgClient {
    const me: GlobalId = { kernel: this.k, pid, generation };
    return {
      self: () => ({ ...me }),
      discover: (name, timeoutMs, done) => {
        const local = this.#kernel()?.findProcess(name);
        if (local) return this.#after(LOCAL_US, () => done(IpcStatus.OK, { kernel: this.k, pid: local.pid, generation: local.generation }));
        const seq = this.#seq++;
        this.#discovering.set(seq, done);
        const name8 = new TextEncoder().encode(name);
        if (!this.#post({ type: MsgType.DISCOVER, status: 0, copies: 0, seq, src: me, dst: NOBODY, length: name8.length }, name8)) {
          this.#discovering.delete(seq);
          return this.#after(LOCAL_US, () => done(IpcStatus.BUSY, undefined));
        }
        this.#after(timeoutMs * 1000, () => {
          if (!this.#discovering.delete(seq)) return;
          this.stats.timeouts++;
          done(IpcStatus.TIMEOUT, undefined);
        });
      },
      registerRx: (buffer, cb) => void this.#rx.set(pid, { generation, buffer, cb }),
      send: (dst, tx, length, timeoutMs, done) => {
        if (!alive()) return IpcStatus.FAIL;
        if (this.#inflight.has(pid)) {
          this.stats.busyRefused++;
          return IpcStatus.BUSY;
        }
        if (length > tx.length || length > IPC_MAX_MESSAGE) return IpcStatus.SIZE;
        const seq = this.#seq++;
        this.#inflight.set(pid, { seq, done });
        this.stats.messagesSent++;
        const finish = (status: number): void => {
          const f = this.#inflight.get(pid);
          if (!f || f.seq !== seq) return;
          this.#inflight.delete(pid);
          f.done(status);
        };
        if (dst.kernel === this.k) {
          this.#after(LOCAL_US, () => finish(this.#deliver(me, dst, tx.subarray(0, length), 0)));
          return IpcStatus.OK;
        }
        // Copy 1: the sender's tx buffer straight into the channel slot.
        this.stats.copies++;
        if (!this.#post({ type: MsgType.MSG, status: 0, copies: 1, seq, src: me, dst, length }, tx.subarray(0, length))) {
          this.#inflight.delete(pid);
          this.stats.copies--;
          return IpcStatus.BUSY;
        }
        this.#after(timeoutMs * 1000, () => {
          if (this.#inflight.get(pid)?.seq !== seq) return;
          this.stats.timeouts++;
          finish(IpcStatus.TIMEOUT);
        });
        return IpcStatus.OK;
      },
    };
  }

  /** Copies a message into the destination's rx buffer (the last copy) and schedules its upcall. */
  #deliver(src: GlobalId, dst: GlobalId, payload: Uint8Array, copiesSoFar: number): number {
    const target = this.#kernel()?.processByPid(dst.pid);
    if (!target?.alive) return IpcStatus.NODEVICE;
    if (target.generation !== dst.generation) {
      this.stats.staleRefused++;
      return IpcStatus.STALE;
    }
    const rx = this.#rx.get(dst.pid);
    if (!rx || rx.generation !== dst.generation) return IpcStatus.NODEVICE;
    if (payload.length > rx.buffer.length) return IpcStatus.SIZE;
    rx.buffer.set(payload);
    this.stats.copies++;
    this.stats.messagesDelivered++;
    const copies = copiesSoFar + 1;
    const length = payload.length;
    this.#after(LOCAL_US, () => rx.cb({ ...src }, length, copies));
    return IpcStatus.OK;
  }

  /** Doorbell: drain every message for this kernel. */
  onDoorbell(): void {
    if (this.#kernel()?.alive !== true) return;
    for (let m = this.#channel.take(this.k); m; m = this.#channel.take(this.k)) {
      const h = decodeHeader(m);
      if (!h) continue;
      const payload = m.subarray(HEADER, HEADER + h.length);
      switch (h.type) {
        case MsgType.DISCOVER: {
          const p = this.#kernel()?.findProcess(new TextDecoder().decode(payload));
          const found: GlobalId = p ? { kernel: this.k, pid: p.pid, generation: p.generation } : NOBODY;
          this.#post({
            type: MsgType.DISCOVER_REPLY,
            status: p ? IpcStatus.OK : IpcStatus.NODEVICE,
            copies: 0,
            seq: h.seq,
            src: found,
            dst: h.src,
            length: 0,
          });
          break;
        }
        case MsgType.DISCOVER_REPLY: {
          const done = this.#discovering.get(h.seq);
          if (!done) break;
          this.#discovering.delete(h.seq);
          done(h.status, h.status === IpcStatus.OK ? h.src : undefined);
          break;
        }
        case MsgType.MSG: {
          const status = this.#deliver(h.src, h.dst, payload, h.copies);
          this.#post({ type: MsgType.ACK, status, copies: 0, seq: h.seq, src: h.dst, dst: h.src, length: 0 });
          break;
        }
        case MsgType.ACK: {
          const f = this.#inflight.get(h.dst.pid);
          if (f && f.seq === h.seq) {
            this.#inflight.delete(h.dst.pid);
            f.done(h.status);
          }
          break;
        }
      }
    }
  }
}
