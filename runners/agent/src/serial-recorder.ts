/**
 * Records one board's serial output for an attempt and streams it to the API in ordered chunks. The recorder is
 * attached before the board is flashed or reset, so nothing the board prints is missed; the whole log is kept in
 * memory for the suite (attempt logs are small: tens of KB per minute at 115200 baud).
 */
import type { Board, ConsoleLog } from "@tock-hil/board";
import type { Logger } from "pino";
import { ApiError } from "./api-client.ts";
import type { ApiClient } from "./api-client.ts";
import { raceSignal } from "./signals.ts";

const MAX_CHUNK = 256 * 1024;

export class SerialRecorder implements ConsoleLog {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private uploaded = 0;
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private uploadError: Error | undefined;
  /** Aborted when closing runs out of time: an upload retrying against an API that is down stops with it. */
  private readonly uploads = new AbortController();

  constructor(
    board: Board,
    private readonly role: string,
    private readonly attemptId: string,
    private readonly api: ApiClient,
    private readonly logger: Logger,
    flushIntervalMs = 250,
  ) {
    this.unsubscribe = board.serial.onData((chunk) => {
      const copy = Buffer.from(chunk);
      this.chunks.push(copy);
      this.size += copy.length;
    });
    this.timer = setInterval(() => void this.flush(), flushIntervalMs);
    this.timer.unref();
  }

  offset(): number {
    return this.size;
  }

  textSince(from: number): string {
    return this.bytes().subarray(from).toString("utf8");
  }

  private bytes(): Buffer {
    if (this.chunks.length > 1) {
      const joined = Buffer.concat(this.chunks);
      this.chunks.length = 0;
      this.chunks.push(joined);
    }
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /**
   * Uploads everything recorded so far; serialised, so chunks reach the API in order. `signal` ends the wait (the
   * upload itself goes on in the background until it succeeds, gives up, or the recorder is closed).
   */
  flush(signal?: AbortSignal): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      while (this.uploaded < this.size && !this.uploads.signal.aborted) {
        const all = this.bytes();
        const piece = all.subarray(this.uploaded, Math.min(this.size, this.uploaded + MAX_CHUNK));
        try {
          const res = await this.api.uploadLog(this.attemptId, this.role, this.uploaded, piece, this.uploads.signal);
          this.uploaded = Math.max(this.uploaded, res.size);
        } catch (err) {
          if (err instanceof ApiError && err.code === "LOG_GAP") {
            // The server has a different length (e.g. a lost response): continue from where it is.
            const expected = (err.details as { expectedOffset?: number } | undefined)?.expectedOffset;
            if (typeof expected === "number" && expected <= this.size) {
              this.uploaded = expected;
              continue;
            }
          }
          this.uploadError = err as Error;
          this.logger.warn({ err, role: this.role }, "serial log upload failed; will retry");
          return;
        }
      }
    });
    return signal ? raceSignal(this.flushing, signal) : this.flushing;
  }

  /**
   * Stops recording and uploads the rest, until `signal` aborts (then uploads stop). Throws if the log could not be
   * uploaded completely.
   */
  async close(signal?: AbortSignal): Promise<void> {
    this.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.uploadError = undefined;
    const stop = () => this.uploads.abort(signal?.reason);
    signal?.addEventListener("abort", stop, { once: true });
    try {
      if (signal?.aborted) stop();
      await this.flush();
    } finally {
      signal?.removeEventListener("abort", stop);
    }
    if (this.uploaded < this.size)
      throw this.uploadError ?? new Error(`serial log of ${this.role} incomplete: ${this.uploaded}/${this.size} bytes uploaded`);
  }
}
