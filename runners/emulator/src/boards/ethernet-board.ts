/**
 * Boards with Tock's Ethernet tap: the Nucleo-F429ZI (STM32F429ZI ETH MAC over RMII, `tock-ethernet` branch) and
 * QEMU's rv32 virt machine with VirtIO-net. Both wire `EthernetTapDriver` (0x30007) over their MAC, which sits on
 * the lab's L2 segment.
 */
import type { Scheduler } from "../scheduler.ts";
import type { NetDrivers } from "../net/lwip.ts";
import { lwipNetTest } from "../net/lwip-net-test.ts";
import type { L2Segment } from "../net/segment.ts";
import { EthernetMac, EthernetTap } from "../net/tap.ts";
import { KernelCore } from "./kernel-core.ts";
import type { ProcessModel } from "./kernel-core.ts";
import { NUCLEO_F429ZI, QEMU_RV32_VIRT } from "./firmware.ts";
import type { FlashContents, FlashLayout } from "./tock-board.ts";
import { TockBoard } from "./tock-board.ts";

export const NUCLEO_F429ZI_LAYOUT: FlashLayout = {
  kernelAddress: 0x08000000,
  kernelSize: 0x40000,
  appsAddress: 0x08040000,
  appsSize: 0x40000,
};
export const QEMU_RV32_VIRT_LAYOUT: FlashLayout = {
  kernelAddress: 0x80000000,
  kernelSize: 0x100000,
  appsAddress: 0x80100000,
  appsSize: 0x100000,
};

export const ethernetAppModels: ReadonlyMap<string, ProcessModel<NetDrivers>> = new Map([["lwip_net_test", lwipNetTest]]);

export class EthernetBoard extends TockBoard {
  readonly mac: EthernetMac;
  readonly tap: EthernetTap;
  #kernel: KernelCore<NetDrivers> | undefined;

  constructor(options: {
    name: string;
    type: typeof NUCLEO_F429ZI | typeof QEMU_RV32_VIRT;
    sched: Scheduler;
    segment: L2Segment;
    flashHang?: () => readonly string[];
  }) {
    super({ ...options, layout: options.type === NUCLEO_F429ZI ? NUCLEO_F429ZI_LAYOUT : QEMU_RV32_VIRT_LAYOUT });
    this.mac = new EthernetMac(options.sched, options.segment.attach(options.name, "board"));
    this.mac.powerOff();
    this.tap = new EthernetTap(options.sched, this.mac);
  }

  get running(): boolean {
    return this.#kernel?.alive ?? false;
  }

  processes(): ReturnType<KernelCore<NetDrivers>["processes"]> {
    return this.#kernel?.alive ? this.#kernel.processes() : [];
  }

  protected start(contents: FlashContents): void {
    this.tap.reset();
    const tap = this.tap;
    const mac = this.mac;
    const virtio = this.type === QEMU_RV32_VIRT;
    const kernel = new KernelCore<NetDrivers>({
      sched: this.sched,
      image: contents.kernel,
      apps: contents.apps,
      models: ethernetAppModels,
      drivers: (p) => ({ tap: tap.open(p.alive) }),
      write: (t) => this.write(t),
      bootLines: () =>
        virtio
          ? [
              'QEMU RISC-V 32-bit "virt" machine, initialization complete.\r\n',
              "- Found VirtIO NetworkCard device, enabling EthernetTapDriver\r\n",
            ]
          : [],
      bootMessage: virtio ? "Entering main loop.\r\n" : "Initialization complete. Entering main loop\r\n",
      bootDelayUs: 12_000,
      faultPolicy: "panic",
      // The MAC and PHY come up during board init; until then the port has no carrier.
      onBooted: () => mac.powerOn(),
    });
    this.#kernel = kernel;
    kernel.boot();
  }

  protected stopAll(): void {
    this.#kernel?.stop();
    this.#kernel = undefined;
    this.mac.powerOff();
    this.tap.reset();
  }

  protected consoleInput(text: string): void {
    if (this.#kernel?.alive) this.#kernel.input(text);
  }
}
