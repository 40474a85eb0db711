/**
 * An emulated nRF52840DK: flash contents, serial console, radio, and the kernel boot that runs from them.
 */
import { checkImages, describeImage, stallIfProbeHangs } from "./flash-check.ts";
import type { FlashLayout } from "./flash-check.ts";
import type { Board, FirmwareImage, FlashReport, SerialConsole } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import type { KernelImageInfo } from "./kernel-image.ts";
import type { KernelStats, LoadedApp } from "./kernel.ts";
import { Kernel } from "./kernel.ts";
import type { OtSettings } from "./ot/cli-firmware.ts";
import { OtCliFirmware } from "./ot/cli-firmware.ts";
import type { Rng } from "./prng.ts";
import { createRng, hashString } from "./prng.ts";
import type { Medium, RadioStats } from "./radio.ts";
import { Radio } from "./radio.ts";
import { SnifferFirmware } from "./sniffer-firmware.ts";
import type { Scheduler } from "./scheduler.ts";
import { Uart, uartDurationUs } from "./uart.ts";

/** nRF52840 flash layout used by the nrf52840dk board (boards/nordic/nrf52840_chip_layout.ld). */
export const NRF52840DK_LAYOUT: FlashLayout = { kernelAddress: 0x0, kernelSize: 0x40000, appsAddress: 0x40000, appsSize: 0xc0000 };

export const SUPPORTED_BOARD_TYPES = ["nrf52840dk"] as const;

type FlashContents = { kernel: KernelImageInfo; apps: LoadedApp[]; names: Set<string> };

/** A fault aimed at boards: `target` is "all", a board name, or an image / app name flashed on the board. */
export type TargetedFault = { target: string; afterMs: number };

/** The session faults a board applies itself (the medium applies the radio ones). */
export type BoardFaults = {
  /** Boards that stay silent after every reset (a kernel that faults before its banner, a dead UART). */
  bootHang: string[];
  /** Boards (or images being flashed) whose debug probe stops answering mid-write. */
  flashHang: string[];
  boardHang: TargetedFault[];
  kernelPanic: TargetedFault[];
  routerAbsent: boolean;
  wrongNetworkKey: boolean;
};

export const NO_BOARD_FAULTS: BoardFaults = {
  bootHang: [],
  flashHang: [],
  boardHang: [],
  kernelPanic: [],
  routerAbsent: false,
  wrongNetworkKey: false,
};

/** The chip's factory EUI-64 (FICR), stable per board name. */
export function eui64For(boardName: string): Uint8Array {
  const rng = createRng(hashString(boardName), 0xe1e64);
  const out = Uint8Array.from({ length: 8 }, () => rng.nextU32() & 0xff);
  out[0] = ((out[0] ?? 0) & 0xfc) | 0x02;
  return out;
}

/** "radio_rx (sha256 1a2b3c4d…)": how error messages name an image. */
export { describeImage };

export class EmulatedBoard implements Board {
  readonly name: string;
  readonly type: string;
  readonly serial: SerialConsole;
  readonly radio: Radio;
  readonly #sched: Scheduler;
  readonly #uart: Uart;
  #flash: FlashContents | undefined;
  #kernel: Kernel | OtCliFirmware | SnifferFirmware | undefined;
  #faults: BoardFaults = NO_BOARD_FAULTS;
  #rng: Rng;
  /** OpenThread settings pages: survive resets, erased by a flash. */
  #otSettings: OtSettings = {};
  readonly eui64: Uint8Array;

  constructor(options: { name: string; type: string; sched: Scheduler; medium: Medium }) {
    this.name = options.name;
    this.type = options.type;
    this.#sched = options.sched;
    this.#uart = new Uart(options.sched);
    this.radio = new Radio(options.name, options.sched, options.medium);
    this.#rng = createRng(0, hashString(`entropy:${options.name}`));
    this.eui64 = eui64For(options.name);
    this.serial = {
      onData: (listener) => this.#uart.subscribe(listener),
      write: async (data) => this.#consoleInput(data),
    };
  }

  /** True while a kernel is running (between reset and halt/panic). */
  get running(): boolean {
    return this.#kernel?.alive ?? false;
  }

  /** Session state: the entropy stream of this board and the faults it applies at each boot. */
  configureSession(rng: Rng, faults: BoardFaults): void {
    this.#rng = rng;
    this.#faults = faults;
  }

  /** Radio and kernel counters, for cross-checking what apps printed against what really happened. */
  stats(): { radio: RadioStats; kernel: KernelStats | undefined } {
    const k = this.#kernel;
    return { radio: { ...this.radio.stats }, kernel: k instanceof Kernel ? { ...k.stats } : undefined };
  }

  /** Processes of the running kernel (empty when halted or not running Tock). */
  processes(): ReturnType<Kernel["processes"]> {
    const k = this.#kernel;
    return k instanceof Kernel && k.alive ? k.processes() : [];
  }

  /** The OpenThread router firmware, when that is what runs. */
  get otFirmware(): OtCliFirmware | undefined {
    const k = this.#kernel;
    return k instanceof OtCliFirmware && k.alive ? k : undefined;
  }

  async flash(images: FirmwareImage[], signal?: AbortSignal): Promise<FlashReport> {
    if (signal?.aborted) throw new FlashError("cancelled", `flashing ${this.name} was cancelled`);
    // Like `nrfjprog --recover`: the board is erased and halted before anything is checked or written.
    this.#stop();
    this.#flash = undefined;
    this.#otSettings = {};
    const { kernel, kernelImage, apps, names, written } = checkImages(this, NRF52840DK_LAYOUT, images);
    await stallIfProbeHangs(this, this.#faults.flashHang, { names, written }, signal);
    if (signal?.aborted) throw new FlashError("cancelled", `flashing ${this.name} was cancelled`);
    if ((kernel.flavour === "ot-cli-ftd" || kernel.flavour === "sniffer") && apps.length > 0) {
      throw new FlashError(
        "invalid_image",
        `${describeImage(kernelImage)}: ${kernel.flavour} firmware is not a Tock kernel and cannot host apps (${apps.length} given)`,
        kernelImage.name,
      );
    }
    this.#flash = { kernel, apps, names };
    return { written, log: "" };
  }

  async reset(): Promise<void> {
    this.#stop();
    // An erased or never-flashed board has nothing to run: it stays silent, like a hung board.
    if (!this.#flash) return;
    // The bootHang fault: the board resets but never gets as far as printing anything.
    if (this.#faults.bootHang.some((t) => this.#targets(t))) return;
    const flash = this.#flash;
    const onReset = (): void => void this.reset();
    if (flash.kernel.flavour === "ot-cli-ftd") {
      // The routerAbsent fault: the router board is unpowered, so it neither prints nor radiates.
      if (this.#faults.routerAbsent) return;
      const fw = new OtCliFirmware({
        sched: this.#sched,
        uart: this.#uart,
        radio: this.radio,
        rng: this.#rng,
        eui64: this.eui64,
        settings: this.#otSettings,
        onReset,
      });
      this.#kernel = fw;
      fw.boot(() => this.#armFaults(fw));
      return;
    }
    if (flash.kernel.flavour === "sniffer") {
      const fw = new SnifferFirmware({ sched: this.#sched, uart: this.#uart, radio: this.radio });
      this.#kernel = fw;
      fw.boot(() => this.#armFaults(fw));
      return;
    }
    const kernel = new Kernel({
      sched: this.#sched,
      uart: this.#uart,
      radio: this.radio,
      image: flash.kernel,
      apps: flash.apps,
      onPanic: () => undefined,
      defaultShortAddress: hashString(this.name) & 0xfffe,
      onReset,
      rng: this.#rng,
      eui64: this.eui64,
      emulation: { wrongNetworkKey: this.#faults.wrongNetworkKey },
    });
    this.#kernel = kernel;
    kernel.boot(() => this.#armFaults(kernel));
  }

  /** Whether a fault target names this board or something flashed on it. */
  #targets(target: string): boolean {
    return target === "all" || target === this.name || (this.#flash?.names.has(target) ?? false);
  }

  /** Schedules this boot's hang and panic faults, counted from the boot banner. */
  #armFaults(k: Kernel | OtCliFirmware | SnifferFirmware): void {
    for (const f of this.#faults.boardHang) {
      if (this.#targets(f.target)) this.#sched.after(Math.round(f.afterMs * 1000), () => k.alive && k.hang());
    }
    for (const f of this.#faults.kernelPanic) {
      if (!this.#targets(f.target)) continue;
      this.#sched.after(Math.round(f.afterMs * 1000), () => {
        if (!k.alive) return;
        // Non-Tock firmware has no panic banner: it just stops.
        if (k instanceof Kernel) k.injectPanic(`Emulated fault kernelPanic (target ${f.target})`);
        else k.hang();
      });
    }
  }

  async halt(): Promise<void> {
    this.#stop();
  }

  #stop(): void {
    this.#kernel?.stop();
    this.#kernel = undefined;
    this.radio.powerOff();
    this.#uart.reset();
  }

  #consoleInput(data: Uint8Array | string): void {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    const kernel = this.#kernel;
    if (!kernel?.alive) return;
    // The bytes take their time on the wire before the process console sees them.
    this.#sched.after(uartDurationUs(new TextEncoder().encode(text).length), () => {
      if (kernel.alive) kernel.input(text);
    });
  }
}
