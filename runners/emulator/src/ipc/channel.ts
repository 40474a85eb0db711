/**
 * The only memory two kernel instances share: a bounded inter-kernel message channel. One ring per direction of
 * fixed-size slots in a shared byte array; the sender copies a message into a free slot (or fails: the ring is
 * full) and rings the receiver's doorbell (an inter-core interrupt with latency); the receiver copies it out when
 * its kernel runs. Each message carries a CRC-32 so a damaged slot is detected, never delivered. A dead kernel
 * simply stops draining its ring, which fills up; nothing on the other side ever waits on it.
 */
import { crc32 } from "../crc.ts";
import type { Scheduler } from "../scheduler.ts";

export const CHANNEL_SLOTS = 4;
export const SLOT_SIZE = 192;
/** Inter-core interrupt latency. */
export const DOORBELL_US = 5;

export type ChannelStats = { posted: number; delivered: number; full: number; crcErrors: number };

export class InterKernelChannel {
  /** The shared region: [direction][slot] = u16 length + message + CRC-32. */
  readonly memory = new Uint8Array(2 * CHANNEL_SLOTS * SLOT_SIZE);
  readonly #sched: Scheduler;
  readonly #head = [0, 0];
  readonly #count = [0, 0];
  readonly #doorbells: ((() => void) | undefined)[] = [undefined, undefined];
  stats: ChannelStats = { posted: 0, delivered: 0, full: 0, crcErrors: 0 };

  constructor(sched: Scheduler) {
    this.#sched = sched;
  }

  reset(): void {
    this.memory.fill(0);
    this.#head.fill(0);
    this.#count.fill(0);
  }

  /** Registers the interrupt handler of kernel `k` (undefined when it is not running). */
  setDoorbell(k: 0 | 1, fn: (() => void) | undefined): void {
    this.#doorbells[k] = fn;
  }

  /**
   * Kernel `from` posts a message (header, then payload copied straight from the sender's buffer: the first of the
   * two copies of an inter-kernel send); false when the ring is full or the message too big.
   */
  post(from: 0 | 1, header: Uint8Array, payload: Uint8Array = new Uint8Array(0)): boolean {
    const dir = from;
    const length = header.length + payload.length;
    if (length + 6 > SLOT_SIZE) return false;
    if ((this.#count[dir] ?? 0) >= CHANNEL_SLOTS) {
      this.stats.full++;
      return false;
    }
    const slot = ((this.#head[dir] ?? 0) + (this.#count[dir] ?? 0)) % CHANNEL_SLOTS;
    const base = (dir * CHANNEL_SLOTS + slot) * SLOT_SIZE;
    const dv = new DataView(this.memory.buffer);
    dv.setUint16(base, length, true);
    this.memory.set(header, base + 2);
    this.memory.set(payload, base + 2 + header.length);
    dv.setUint32(base + 2 + length, crc32(this.memory, base + 2, base + 2 + length), true);
    this.#count[dir] = (this.#count[dir] ?? 0) + 1;
    this.stats.posted++;
    const to = from === 0 ? 1 : 0;
    this.#sched.after(DOORBELL_US, () => this.#doorbells[to]?.());
    return true;
  }

  /**
   * Kernel `k` takes the next message addressed to it, verified; undefined when the ring is empty. The view is valid
   * until the next `post` towards `k`.
   */
  take(k: 0 | 1): Uint8Array | undefined {
    const dir = k === 0 ? 1 : 0;
    while ((this.#count[dir] ?? 0) > 0) {
      const slot = this.#head[dir] ?? 0;
      this.#head[dir] = (slot + 1) % CHANNEL_SLOTS;
      this.#count[dir] = (this.#count[dir] ?? 0) - 1;
      const base = (dir * CHANNEL_SLOTS + slot) * SLOT_SIZE;
      const dv = new DataView(this.memory.buffer);
      const len = dv.getUint16(base, true);
      if (len + 6 > SLOT_SIZE) {
        this.stats.crcErrors++;
        continue;
      }
      // A view into the slot, not a copy: the receiver copies what it keeps (the second copy).
      const msg = this.memory.subarray(base + 2, base + 2 + len);
      if (dv.getUint32(base + 2 + len, true) !== crc32(msg)) {
        this.stats.crcErrors++;
        continue;
      }
      this.stats.delivered++;
      return msg;
    }
    return undefined;
  }
}
