/**
 * One board's serial console through `serialport`, open for the runner's whole life so nothing the board prints is
 * lost between jobs or left in the OS buffer for the next one. If the device goes away (USB re-enumeration, a
 * power-cycled board with its probe) it is reopened with backoff. Bytes are handed on in flowing mode as they come;
 * listeners are synchronous, so back-pressure cannot drop data.
 */
import { SerialPort } from "serialport";
import type { Logger } from "pino";
import { abortError } from "../signals.ts";

export type SerialLineOptions = {
  path: string;
  baudRate: number;
  logger: Logger;
  /** Timestamp for each chunk, on the lab clock. */
  now: () => number;
};

export class SerialLine {
  private port: SerialPort | undefined;
  private readonly listeners = new Set<(chunk: Uint8Array, atMs: number) => void>();
  private closed = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  private backoffMs = 250;
  private muted = 0;
  /** Wall time of the last byte received, muted or not (for the silence check). */
  private lastByteAt = 0;
  private droppedWhileMuted = 0;
  private openWaiters: (() => void)[] = [];
  /** Why the device is not open, for error messages and doctor. */
  lastError: string | undefined;

  constructor(private readonly options: SerialLineOptions) {}

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  start(): void {
    this.open();
  }

  private open() {
    if (this.closed) return;
    const port = new SerialPort({ path: this.options.path, baudRate: this.options.baudRate, autoOpen: false });
    port.on("data", (data: Buffer) => {
      this.lastByteAt = performance.now();
      if (this.muted > 0) {
        this.droppedWhileMuted += data.length;
        return;
      }
      const at = this.options.now();
      for (const l of [...this.listeners]) l(new Uint8Array(data), at);
    });
    port.on("close", () => {
      if (this.port === port) this.port = undefined;
      if (!this.closed) {
        this.lastError = "the device was disconnected";
        this.options.logger.warn({ device: this.options.path }, "serial device closed; reopening");
        this.scheduleReopen();
      }
    });
    port.on("error", (err) => {
      this.lastError = err.message;
      this.options.logger.warn({ device: this.options.path, err: err.message }, "serial device error");
    });
    port.open((err) => {
      if (err) {
        // Log the first failure of an outage only: a board unplugged for an hour must not flood the journal.
        if (this.lastError !== err.message)
          this.options.logger.warn({ device: this.options.path, err: err.message }, "cannot open serial device; will retry");
        this.lastError = err.message;
        this.scheduleReopen();
        return;
      }
      if (this.closed) {
        port.close();
        return;
      }
      this.port = port;
      this.lastError = undefined;
      this.backoffMs = 250;
      this.options.logger.info({ device: this.options.path, baud: this.options.baudRate }, "serial device open");
      for (const w of this.openWaiters.splice(0)) w();
    });
  }

  private scheduleReopen() {
    if (this.closed || this.reopenTimer) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.open();
    }, this.backoffMs);
    this.reopenTimer.unref();
    this.backoffMs = Math.min(5_000, this.backoffMs * 2);
  }

  /** Resolves once the device is open; rejects with why it is not after `ms`, or with the signal's reason. */
  async waitOpen(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.isOpen) return;
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const stop = (err: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.openWaiters = this.openWaiters.filter((w) => w !== done);
        reject(err);
      };
      const onAbort = () => stop(abortError(signal!));
      const timer = setTimeout(
        () => stop(new Error(`serial device ${this.options.path} is not open after ${ms} ms: ${this.lastError ?? "still opening"}`)),
        ms,
      );
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.openWaiters.push(done);
    });
  }

  onData(listener: (chunk: Uint8Array, atMs: number) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Writes and waits until the bytes left the process (tcdrain), bounded so a stuck line cannot hang a test. */
  async write(data: Uint8Array | string, interByteDelayMs = 0, timeoutMs = 5_000): Promise<void> {
    const port = this.port;
    if (!port) throw new Error(`serial device ${this.options.path} is not open: ${this.lastError ?? "not started"}`);
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
    const pieces = interByteDelayMs > 0 ? [...bytes].map((b) => Buffer.from([b])) : [bytes];
    for (const [i, piece] of pieces.entries()) {
      if (i > 0) await new Promise((r) => setTimeout(r, interByteDelayMs));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`writing to ${this.options.path} took longer than ${timeoutMs} ms`)), timeoutMs);
        port.write(piece, (err) => {
          if (err) {
            clearTimeout(timer);
            reject(err);
            return;
          }
          port.drain((e) => {
            clearTimeout(timer);
            if (e) reject(e);
            else resolve();
          });
        });
      });
    }
  }

  /** While muted, bytes are read and dropped (a halted board's leftovers, a board without a halt command). */
  mute(): void {
    this.muted++;
  }

  unmute(): void {
    this.muted = Math.max(0, this.muted - 1);
  }

  /**
   * Discards what is buffered and waits until the line has been silent for `quietMs`, at most `maxMs`. Returns how
   * many bytes were dropped and whether the line went quiet; rejects with the signal's reason when it aborts.
   */
  async drain(quietMs: number, maxMs: number, signal?: AbortSignal): Promise<{ dropped: number; quiet: boolean }> {
    this.mute();
    this.droppedWhileMuted = 0;
    try {
      // tcflush: bytes the OS holds but nobody read yet (printed while the runner was not listening). Bounded: a
      // flush on a device that went away must not hold the job.
      const port = this.port;
      if (port)
        await Promise.race([new Promise<void>((resolve) => port.flush(() => resolve())), new Promise((r) => setTimeout(r, 1_000).unref())]);
      const start = performance.now();
      // Silence is counted from now: bytes still in flight from before the halt must have time to show up.
      this.lastByteAt = Math.max(this.lastByteAt, start);
      for (;;) {
        signal?.throwIfAborted();
        const now = performance.now();
        if (now - this.lastByteAt >= quietMs) return { dropped: this.droppedWhileMuted, quiet: true };
        if (now - start >= maxMs) return { dropped: this.droppedWhileMuted, quiet: false };
        await new Promise((r) => setTimeout(r, Math.min(25, quietMs)));
      }
    } finally {
      this.unmute();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
