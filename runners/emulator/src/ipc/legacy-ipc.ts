/**
 * Tock's IPC as it is today (driver 0x10000, kernel/src/ipc.rs): discovery by TBF package name returning a process
 * index, a service callback per process, client callbacks per service, a shared buffer per (client, service) that
 * must be a power of two of at least 16 bytes, and notifications that queue an upcall carrying
 * (caller index, shared length, shared buffer). The buffer is shared memory, not a copy.
 */
import type { Scheduler } from "../scheduler.ts";
import type { KernelView } from "../boards/kernel-core.ts";

export const LEGACY_IPC_DRIVER_NUM = 0x10000;
export const IpcRc = { SUCCESS: 0, ALREADY: -3, INVAL: -6, NODEVICE: -11 } as const;

export type IpcUpcall = (pid: number, length: number, buffer: Uint8Array | undefined) => void;

export type LegacyIpcClient = {
  discover(packageName: string): number;
  registerService(cb: IpcUpcall): void;
  registerClient(service: number, cb: IpcUpcall): void;
  share(service: number, buffer: Uint8Array): number;
  notifyService(service: number): number;
  notifyClient(client: number): number;
};

/** Upcall delivery latency: the next time the target process is scheduled. */
const UPCALL_US = 30;

export class LegacyIpc {
  readonly #sched: Scheduler;
  readonly #kernel: () => KernelView | undefined;
  readonly #services = new Map<number, IpcUpcall>();
  readonly #clients = new Map<string, IpcUpcall>();
  readonly #shares = new Map<string, Uint8Array>();

  constructor(sched: Scheduler, kernel: () => KernelView | undefined) {
    this.#sched = sched;
    this.#kernel = kernel;
  }

  reset(): void {
    this.#services.clear();
    this.#clients.clear();
    this.#shares.clear();
  }

  open(pid: number, alive: () => boolean): LegacyIpcClient {
    const live = (target: number): boolean => this.#kernel()?.processByPid(target)?.alive ?? false;
    const upcall = (cb: IpcUpcall | undefined, from: number, buffer: Uint8Array | undefined): void => {
      if (!cb) return;
      this.#sched.after(UPCALL_US, () => cb(from, buffer?.length ?? 0, buffer));
    };
    return {
      discover: (name) => {
        if (!alive()) return IpcRc.INVAL;
        const p = this.#kernel()?.findProcess(name);
        return p ? p.pid : IpcRc.NODEVICE;
      },
      registerService: (cb) => void this.#services.set(pid, cb),
      registerClient: (service, cb) => void this.#clients.set(`${pid}->${service}`, cb),
      share: (service, buffer) => {
        const n = buffer.length;
        if (n < 16 || (n & (n - 1)) !== 0) return IpcRc.INVAL;
        this.#shares.set(`${pid}->${service}`, buffer);
        return IpcRc.SUCCESS;
      },
      notifyService: (service) => {
        if (service === pid) return IpcRc.ALREADY;
        if (!live(service)) return IpcRc.INVAL;
        upcall(this.#services.get(service), pid, this.#shares.get(`${pid}->${service}`));
        return IpcRc.SUCCESS;
      },
      notifyClient: (client) => {
        if (client === pid) return IpcRc.ALREADY;
        if (!live(client)) return IpcRc.INVAL;
        upcall(this.#clients.get(`${client}->${pid}`), pid, this.#shares.get(`${client}->${pid}`));
        return IpcRc.SUCCESS;
      },
    };
  }
}
