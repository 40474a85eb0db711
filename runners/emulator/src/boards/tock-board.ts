/**
 * Common part of the network and multi-kernel boards: flash (one emulated kernel image for this board type plus
 * TBF apps, checked against the board's flash layout), reset/halt, and a 115200-baud console. Subclasses start
 * their kernel(s) and peripherals from what is in flash.
 */
import type { Board, FirmwareImage, FlashReport, SerialConsole } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import { checkImages, stallIfProbeHangs } from "../flash-check.ts";
import type { FlashLayout } from "../flash-check.ts";
import type { KernelImageInfo } from "../kernel-image.ts";
import type { LoadedApp } from "../kernel.ts";
import type { Scheduler } from "../scheduler.ts";
import { Uart, uartDurationUs } from "../uart.ts";

export type { FlashLayout };

export type FlashContents = { kernel: KernelImageInfo; kernelBytes: Uint8Array; apps: LoadedApp[] };

export abstract class TockBoard implements Board {
  readonly name: string;
  readonly type: string;
  readonly serial: SerialConsole;
  protected readonly sched: Scheduler;
  protected readonly uart: Uart;
  readonly #layout: FlashLayout;
  readonly #flashHang: () => readonly string[];
  #flash: FlashContents | undefined;

  constructor(options: { name: string; type: string; sched: Scheduler; layout: FlashLayout; flashHang?: () => readonly string[] }) {
    this.name = options.name;
    this.#flashHang = options.flashHang ?? (() => []);
    this.type = options.type;
    this.sched = options.sched;
    this.#layout = options.layout;
    this.uart = new Uart(options.sched);
    this.serial = {
      onData: (listener) => this.uart.subscribe(listener),
      write: async (data) => {
        const text = typeof data === "string" ? data : new TextDecoder().decode(data);
        // The bytes take their time on the wire before the console sees them.
        this.sched.after(uartDurationUs(new TextEncoder().encode(text).length), () => this.consoleInput(text));
      },
    };
  }

  /** Starts the kernel(s) from flash; called on reset with peripherals already stopped. */
  protected abstract start(contents: FlashContents): void;
  /** Stops kernels and peripherals: no output, no network activity. */
  protected abstract stopAll(): void;
  protected abstract consoleInput(text: string): void;

  async flash(images: FirmwareImage[], signal?: AbortSignal): Promise<FlashReport> {
    if (signal?.aborted) throw new FlashError("cancelled", `flashing ${this.name} was cancelled`);
    this.#stop();
    this.#flash = undefined;
    const { kernel, kernelImage, apps, names, written } = checkImages(this, this.#layout, images);
    await stallIfProbeHangs(this, this.#flashHang(), { names, written }, signal);
    if (signal?.aborted) throw new FlashError("cancelled", `flashing ${this.name} was cancelled`);
    this.#flash = { kernel, kernelBytes: kernelImage.bytes.slice(), apps };
    return { written, log: "" };
  }

  async reset(): Promise<void> {
    this.#stop();
    if (this.#flash) this.start(this.#flash);
  }

  async halt(): Promise<void> {
    this.#stop();
  }

  #stop(): void {
    this.stopAll();
    this.uart.reset();
  }

  /** Writes console text (what a kernel's debug writer would send). */
  protected write(text: string): void {
    this.uart.write(new TextEncoder().encode(text));
  }
}
