/**
 * Wakes long-polling lease requests when there may be new work (a run expanded, boards freed), so a free board
 * picks up its next job within milliseconds instead of at the next poll.
 */
import { EventEmitter } from "node:events";

/** What changed: the queue (jobs added, requeued, cancelled) or only which boards are free. */
export type WorkChange = "queue" | "boards";

export class WorkSignal {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  /** When unsure, say "queue": it makes the scheduler re-read the queue, which is always correct. */
  notify(change: WorkChange = "queue"): void {
    this.emitter.emit("work", change);
  }

  /** Calls `listener` on every notify(); returns the function that stops it. */
  subscribe(listener: (change: WorkChange) => void): () => void {
    this.emitter.on("work", listener);
    return () => this.emitter.off("work", listener);
  }

  /** Resolves on the next notify() or after `ms`, whichever comes first. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off("work", done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.emitter.once("work", done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
