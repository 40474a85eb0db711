/**
 * Common part of the network and multi-kernel boards: flash (one emulated kernel image for this board type plus
 * TBF apps, checked against the board's flash layout), reset/halt, and a 115200-baud console. Subclasses start
 * their kernel(s) and peripherals from what is in flash.
 */
import { appTbf } from "../tab.ts";
import type { Board, FirmwareImage, FlashReport, SerialConsole } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import { describeImage } from "../board.ts";
import type { KernelImageInfo } from "../kernel-image.ts";
import { KernelImageError, parseKernelImage } from "../kernel-image.ts";
import type { LoadedApp } from "../kernel.ts";
import type { Scheduler } from "../scheduler.ts";
import { TbfError, parseTbf } from "../tbf.ts";
import { Uart, uartDurationUs } from "../uart.ts";

export type FlashLayout = { kernelAddress: number; kernelSize: number; appsAddress: number; appsSize: number };

export type FlashContents = { kernel: KernelImageInfo; kernelBytes: Uint8Array; apps: LoadedApp[] };

export abstract class TockBoard implements Board {
  readonly name: string;
  readonly type: string;
  readonly serial: SerialConsole;
  protected readonly sched: Scheduler;
  protected readonly uart: Uart;
  readonly #layout: FlashLayout;
  #flash: FlashContents | undefined;

  constructor(options: { name: string; type: string; sched: Scheduler; layout: FlashLayout }) {
    this.name = options.name;
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
    const kernels = images.filter((i) => i.kind === "kernel");
    if (kernels.length !== 1) {
      throw new FlashError(
        "invalid_image",
        `${this.name}: expected exactly one kernel image, got ${kernels.length}` +
          (kernels.length > 0 ? ` (${kernels.map(describeImage).join(", ")})` : ""),
      );
    }
    const kernelImage = kernels[0] as FirmwareImage;
    let kernel: KernelImageInfo;
    try {
      kernel = parseKernelImage(kernelImage.bytes);
    } catch (err) {
      if (err instanceof KernelImageError)
        throw new FlashError("invalid_image", `${describeImage(kernelImage)}: ${err.message}`, kernelImage.name);
      throw err;
    }
    if (kernel.board !== this.type) {
      throw new FlashError(
        "wrong_board",
        `${describeImage(kernelImage)}: kernel is built for board "${kernel.board}", ${this.name} is a ${this.type}`,
        kernelImage.name,
      );
    }
    const L = this.#layout;
    if (kernel.totalSize > L.kernelSize)
      throw new FlashError(
        "invalid_image",
        `${describeImage(kernelImage)}: kernel does not fit in the ${L.kernelSize / 1024} KiB kernel region`,
        kernelImage.name,
      );
    const written: FlashReport["written"] = [
      { name: kernelImage.name, sha256: kernelImage.sha256, address: L.kernelAddress, size: kernelImage.bytes.length },
    ];
    const apps: LoadedApp[] = [];
    let address = L.appsAddress;
    for (const image of images) {
      if (image.kind === "kernel") continue;
      // A TAB contributes the TBF for this board's architecture (or is refused, naming the image).
      const tbf = appTbf(image, this.name, this.type, describeImage);
      let header;
      try {
        header = parseTbf(tbf);
      } catch (err) {
        if (err instanceof TbfError) throw new FlashError("invalid_image", `${describeImage(image)}: ${err.message}`, image.name);
        throw err;
      }
      if (address + header.totalSize > L.appsAddress + L.appsSize)
        throw new FlashError("invalid_image", `${describeImage(image)}: apps do not fit in the app region`, image.name);
      apps.push({ header, address });
      written.push({ name: image.name, sha256: image.sha256, address, size: header.totalSize });
      address += header.totalSize;
    }
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
