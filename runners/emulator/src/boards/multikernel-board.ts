/**
 * A two-core board running two Tock kernel instances that share nothing but the bounded inter-kernel channel
 * (the multi-kernel design, prototyped on two-hart QEMU RISC-V in tock/tock PR #4110). Each kernel loads the apps
 * whose FixedAddresses TLV places their RAM in its core's memory (apps without one go to kernel 0), has its own
 * legacy IPC and multi-kernel IPC capsule, and panics alone: the other keeps running.
 *
 * Console: each kernel has its own UART; the board's serial console is the two merged line by line, each line
 * tagged "[k0] " or "[k1] " so suites can tell the kernels apart.
 */
import type { Faults } from "@tock-hil/board";
import type { Scheduler } from "../scheduler.ts";
import type { IpcDrivers } from "../ipc/apps.ts";
import { crashService, echoLocal, echoRemote, mkClient, rot13Client, rot13Service, silentService, ROT13_SERVICE } from "../ipc/apps.ts";
import { InterKernelChannel } from "../ipc/channel.ts";
import { IpcNg } from "../ipc/ipc-ng.ts";
import { LegacyIpc } from "../ipc/legacy-ipc.ts";
import { MULTIKERNEL, appKernelInstance } from "./firmware.ts";
import type { ProcessModel } from "./kernel-core.ts";
import { KernelCore } from "./kernel-core.ts";
import type { FlashContents, FlashLayout } from "./tock-board.ts";
import { TockBoard } from "./tock-board.ts";

export const MULTIKERNEL_LAYOUT: FlashLayout = {
  kernelAddress: 0x80000000,
  kernelSize: 0x100000,
  appsAddress: 0x80100000,
  appsSize: 0x100000,
};
/** Fault `ipcRemotePanic`: kernel 1 panics this long after its boot banner. */
export const REMOTE_PANIC_AFTER_MS = 50;

export const ipcAppModels: ReadonlyMap<string, ProcessModel<IpcDrivers>> = new Map([
  ["rot13_client", rot13Client],
  [ROT13_SERVICE, rot13Service],
  ["ipc_mk_client", mkClient],
  ["ipc_echo_local", echoLocal],
  ["ipc_echo_remote", echoRemote],
  ["ipc_silent_service", silentService],
  ["ipc_crash_service", crashService],
]);

export class MultiKernelBoard extends TockBoard {
  readonly channel: InterKernelChannel;
  readonly ipcNg: [IpcNg, IpcNg];
  readonly #legacy: [LegacyIpc, LegacyIpc];
  readonly #faults: () => Faults;
  #kernels: [KernelCore<IpcDrivers> | undefined, KernelCore<IpcDrivers> | undefined] = [undefined, undefined];
  readonly #atLineStart = [true, true];

  constructor(options: { name: string; sched: Scheduler; faults: () => Faults }) {
    super({
      name: options.name,
      type: MULTIKERNEL,
      sched: options.sched,
      layout: MULTIKERNEL_LAYOUT,
      flashHang: () => options.faults().flashHang ?? [],
    });
    this.#faults = options.faults;
    this.channel = new InterKernelChannel(options.sched);
    this.ipcNg = [
      new IpcNg(0, options.sched, this.channel, () => this.#kernels[0]),
      new IpcNg(1, options.sched, this.channel, () => this.#kernels[1]),
    ];
    this.#legacy = [new LegacyIpc(options.sched, () => this.#kernels[0]), new LegacyIpc(options.sched, () => this.#kernels[1])];
  }

  /** Whether kernel instance `k` is running (not halted, not panicked). */
  kernelAlive(k: 0 | 1): boolean {
    return this.#kernels[k]?.alive ?? false;
  }

  processes(k: 0 | 1): ReturnType<KernelCore<IpcDrivers>["processes"]> {
    return this.#kernels[k]?.processes() ?? [];
  }

  /** One kernel's console writer: tags every line with the kernel instance. */
  #writer(k: 0 | 1): (text: string) => void {
    return (text) => {
      let out = "";
      for (const ch of text) {
        if (this.#atLineStart[k]) out += `[k${k}] `;
        out += ch;
        this.#atLineStart[k] = ch === "\n";
      }
      this.write(out);
    };
  }

  protected start(contents: FlashContents): void {
    this.channel.reset();
    this.#atLineStart.fill(true);
    const silent = this.#faults().ipcSilentService === true;
    for (const k of [0, 1] as const) {
      const ng = this.ipcNg[k];
      const legacy = this.#legacy[k];
      ng.reset();
      legacy.reset();
      const kernel = new KernelCore<IpcDrivers>({
        sched: this.sched,
        image: contents.kernel,
        apps: contents.apps,
        models: ipcAppModels,
        accepts: (app) => (appKernelInstance(app.header) ?? 0) === k,
        drivers: (p) => ({
          ipc: legacy.open(p.pid, p.alive),
          ipcNg: ng.open(p.pid, p.generation, p.alive),
          emulation: { silentService: silent && p.name === "ipc_echo_remote" },
        }),
        write: this.#writer(k),
        bootLines: () => [`QEMU RISC-V 32-bit "virt" machine, hart ${k}: kernel instance ${k} of 2\r\n`],
        bootMessage: "Initialization complete. Entering main loop.\r\n",
        bootDelayUs: 12_000 + k * 500,
        faultPolicy: "panic",
        onBooted: () => {
          this.channel.setDoorbell(k, () => ng.onDoorbell());
          if (k === 1 && this.#faults().ipcRemotePanic)
            this.sched.after(REMOTE_PANIC_AFTER_MS * 1000, () => kernel.panic("Kernel instance 1: injected panic (fault ipcRemotePanic)"));
        },
        onPanic: () => this.channel.setDoorbell(k, undefined),
      });
      this.#kernels[k] = kernel;
      kernel.boot();
    }
  }

  protected stopAll(): void {
    for (const k of [0, 1] as const) {
      this.#kernels[k]?.stop();
      this.#kernels[k] = undefined;
      this.channel.setDoorbell(k, undefined);
      this.ipcNg[k].reset();
      this.#legacy[k].reset();
    }
  }

  /** Console input goes to kernel 0's process console (kernel 1 has no console input). */
  protected consoleInput(text: string): void {
    if (this.#kernels[0]?.alive) this.#kernels[0].input(text);
  }
}
