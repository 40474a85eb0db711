/**
 * Raspberry Pi Pico W: RP2040 + CYW43439 on PIO gSPI. The kernel image links the CYW43439 firmware, CLM and NVRAM
 * (sections of the emulated image); the WiFi capsule uploads them at init. The Ethernet tap capsule sits on the
 * chip's data channel, so lwIP apps use WiFi like a wired tap.
 */
import type { Faults } from "@tock-hil/board";
import { hashString } from "../prng.ts";
import type { Scheduler } from "../scheduler.ts";
import { EthernetTap } from "../net/tap.ts";
import type { WifiAir } from "../wifi/access-point.ts";
import { Cyw43Driver } from "../wifi/cyw43-driver.ts";
import { Cyw43439 } from "../wifi/cyw43439.ts";
import type { WifiDrivers } from "../wifi/wifi-http.ts";
import { wifiHttpModel, wifiHttpWrongPskModel } from "../wifi/wifi-http.ts";
import { PICO_W, kernelSections } from "./firmware.ts";
import type { ProcessModel } from "./kernel-core.ts";
import { KernelCore } from "./kernel-core.ts";
import type { FlashContents, FlashLayout } from "./tock-board.ts";
import { TockBoard } from "./tock-board.ts";

/** boards/raspberry_pi_pico_w/layout.ld: 576 KiB kernel (firmware included), apps from 0x10090000. */
export const PICO_W_LAYOUT: FlashLayout = { kernelAddress: 0x10000000, kernelSize: 0x90000, appsAddress: 0x10090000, appsSize: 0x170000 };

export const wifiAppModels: ReadonlyMap<string, ProcessModel<WifiDrivers>> = new Map([
  ["wifi_http", wifiHttpModel],
  ["wifi_http_wrong_psk", wifiHttpWrongPskModel],
]);

export class PicoWBoard extends TockBoard {
  readonly chip: Cyw43439;
  readonly #air: WifiAir;
  readonly #faults: () => Faults;
  #driver: Cyw43Driver | undefined;
  #kernel: KernelCore<WifiDrivers> | undefined;

  constructor(options: { name: string; sched: Scheduler; air: WifiAir; faults: () => Faults }) {
    super({
      name: options.name,
      type: PICO_W,
      sched: options.sched,
      layout: PICO_W_LAYOUT,
      flashHang: () => options.faults().flashHang ?? [],
    });
    this.#air = options.air;
    this.#faults = options.faults;
    // Raspberry Pi's OUI; the rest comes from the chip's OTP, here derived from the board name.
    const h = hashString(`cyw43439:${options.name}`);
    const mac = ["d8", "3a", "dd", ...[h >>> 16, h >>> 8, h].map((b) => (b & 0xff).toString(16).padStart(2, "0"))].join(":");
    this.chip = new Cyw43439(options.sched, options.air, mac);
  }

  get running(): boolean {
    return this.#kernel?.alive ?? false;
  }

  get driver(): Cyw43Driver | undefined {
    return this.#driver;
  }

  protected start(contents: FlashContents): void {
    const sections = kernelSections(contents.kernelBytes);
    let firmware = sections.get("cyw43.fw");
    // Fault: the firmware section reads as erased flash, exactly what the capsule then uploads.
    if (firmware && this.#faults().wifiFirmwareMissing) firmware = new Uint8Array(firmware.length).fill(0xff);
    const driver = new Cyw43Driver(this.sched, this.chip, { firmware, clm: sections.get("cyw43.clm"), nvram: sections.get("cyw43.nvram") });
    this.#driver = driver;
    const tap = new EthernetTap(this.sched, driver.link);
    const kernel = new KernelCore<WifiDrivers>({
      sched: this.sched,
      image: contents.kernel,
      apps: contents.apps,
      models: wifiAppModels,
      drivers: (p) => ({
        tap: tap.open(p.alive),
        wifi: {
          init: (done) => driver.init(done),
          mac: () => driver.mac,
          scan: (result, done) => driver.scan(result, done),
          join: (ssid, security, passphrase, done) => driver.join(ssid, security, passphrase, done),
        },
      }),
      write: (t) => this.write(t),
      bootLines: () => [],
      bootMessage: "Initialization complete. Enter main loop\r\n",
      bootDelayUs: 15_000,
      faultPolicy: "panic",
    });
    this.#kernel = kernel;
    kernel.boot();
  }

  protected stopAll(): void {
    this.#kernel?.stop();
    this.#kernel = undefined;
    this.#driver?.reset();
    this.#driver = undefined;
    // WL_REG_ON drops with the board: the chip loses its firmware and association.
    this.chip.powerCycle();
  }

  protected consoleInput(text: string): void {
    if (this.#kernel?.alive) this.#kernel.input(text);
  }

  /** Access points the lab's air has (for tests). */
  get air(): WifiAir {
    return this.#air;
  }
}
