/**
 * A UART transmitter at 115200 baud 8N1 (11.52 bytes per millisecond), the nRF52840DK console.
 *
 * Writes queue behind each other and each chunk is delivered to listeners when its last byte would have left the
 * wire, stamped with the virtual time in ms. Writers get a completion callback at that moment, which is how a
 * chatty app ends up paced by the console exactly as a synchronous `printf` is on hardware.
 */
import type { Scheduler } from "./scheduler.ts";

export const UART_BAUD = 115200;
/** 10 bits per byte on the wire (start + 8 data + stop). */
export const UART_BYTES_PER_SECOND = UART_BAUD / 10;

export function uartDurationUs(bytes: number): number {
  return Math.ceil((bytes * 1e6) / UART_BYTES_PER_SECOND);
}

export type UartListener = (chunk: Uint8Array, atMs: number) => void;

export class Uart {
  readonly #sched: Scheduler;
  readonly #listeners = new Set<UartListener>();
  #busyUntilUs = 0;
  #generation = 0;
  /** Total bytes emitted since creation (diagnostics). */
  bytesOut = 0;

  constructor(sched: Scheduler) {
    this.#sched = sched;
  }

  subscribe(listener: UartListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Queues bytes; `done` runs when they have been sent. Bytes queued before a `reset` are never delivered. */
  write(data: Uint8Array, done?: () => void): void {
    if (data.length === 0) {
      if (done) this.#sched.after(0, done);
      return;
    }
    const gen = this.#generation;
    const start = Math.max(this.#sched.nowUs, this.#busyUntilUs);
    const end = start + uartDurationUs(data.length);
    this.#busyUntilUs = end;
    const chunk = data.slice();
    this.#sched.at(end, () => {
      if (gen !== this.#generation) return;
      this.bytesOut += chunk.length;
      const atMs = this.#sched.nowUs / 1000;
      for (const l of [...this.#listeners]) l(chunk, atMs);
      done?.();
    });
  }

  /** Drops everything queued (board reset or halt): the peripheral loses its state. */
  reset(): void {
    this.#generation++;
    this.#busyUntilUs = 0;
  }
}
