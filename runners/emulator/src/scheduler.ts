/**
 * Discrete-event scheduler and the virtual clock shared by every emulated board and the radio medium.
 *
 * Time is kept in integer microseconds so airtimes (multiples of 32 us) and backoffs (320 us) are exact. Virtual
 * time only advances inside `Clock.sleep`: the sleeper's wake-up is an ordinary event, and the scheduler runs all
 * events in (time, insertion) order until no sleeper is left. Ties are broken by insertion order, which makes a
 * run a pure function of its inputs. The loop hands control back to Node every few thousand events or few
 * milliseconds of wall time so that an HTTP server in the same process keeps answering while a long simulated
 * test runs.
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Clock } from "@tock-hil/board";

type Event = { at: number; seq: number; fn: () => void; cancelled: boolean };

export type EventHandle = { cancel(): void };

/** How many events may run between yields, and how much wall time (ms). */
const EVENTS_PER_YIELD = 2000;
const WALL_MS_PER_YIELD = 4;

export class Scheduler {
  #now = 0;
  #seq = 0;
  #heap: Event[] = [];
  #sleepers = new Set<{ reject: (e: unknown) => void }>();
  #running = false;
  #yieldNow = false;

  /** Current virtual time in microseconds. */
  get nowUs(): number {
    return this.#now;
  }

  /** Number of events run so far (for diagnostics and tests). */
  eventsRun = 0;

  readonly clock: Clock = {
    now: () => this.#now / 1000,
    sleep: (ms, signal) => this.sleep(ms, signal),
  };

  /** Runs `fn` at absolute virtual time `atUs` (clamped to now: the past cannot be scheduled). */
  at(atUs: number, fn: () => void): EventHandle {
    const ev: Event = { at: Math.max(this.#now, Math.round(atUs)), seq: this.#seq++, fn, cancelled: false };
    this.#push(ev);
    return {
      cancel: () => {
        ev.cancelled = true;
      },
    };
  }

  /** Runs `fn` after `delayUs` microseconds of virtual time. */
  after(delayUs: number, fn: () => void): EventHandle {
    return this.at(this.#now + delayUs, fn);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isFinite(ms)) return Promise.reject(new RangeError(`sleep needs a finite duration, got ${ms}`));
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- Clock.sleep rejects with the signal's own reason
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const sleeper = { reject };
      const onAbort = (): void => {
        handle.cancel();
        this.#sleepers.delete(sleeper);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- Clock.sleep rejects with the signal's own reason
        reject(signal?.reason);
      };
      const handle = this.at(this.#now + Math.max(0, ms) * 1000, () => {
        signal?.removeEventListener("abort", onAbort);
        this.#sleepers.delete(sleeper);
        // Let the sleeper's continuation run at this virtual instant before any later event.
        this.#yieldNow = true;
        resolve();
      });
      this.#sleepers.add(sleeper);
      signal?.addEventListener("abort", onAbort, { once: true });
      void this.#drive();
    });
  }

  async #drive(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      // Start on a later turn so sleeps requested in the same synchronous step (Promise.all) all get registered
      // before time moves; otherwise the first one would run the clock past the others' start.
      await yieldToEventLoop();
      let sinceYield = 0;
      let wallStart = performance.now();
      while (this.#sleepers.size > 0) {
        const ev = this.#pop();
        if (!ev) break;
        if (ev.cancelled) continue;
        this.#now = ev.at;
        this.eventsRun++;
        try {
          ev.fn();
        } catch (err) {
          // A model bug must not leave sleepers hanging forever: fail every pending sleep with it.
          for (const s of this.#sleepers) s.reject(err);
          this.#sleepers.clear();
          break;
        }
        sinceYield++;
        if (this.#yieldNow || sinceYield >= EVENTS_PER_YIELD || performance.now() - wallStart > WALL_MS_PER_YIELD) {
          this.#yieldNow = false;
          await yieldToEventLoop();
          sinceYield = 0;
          wallStart = performance.now();
        }
      }
    } finally {
      this.#running = false;
    }
  }

  #less(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(ev: Event): void {
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Event;
      if (!this.#less(ev, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = ev;
  }

  #pop(): Event | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const left = h[l] as Event;
      const right = h[r];
      const c = right !== undefined && this.#less(right, left) ? r : l;
      const child = h[c] as Event;
      if (!this.#less(child, last)) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
    return top;
  }
}
