/**
 * One boot of an emulated Tock kernel for the network and multi-kernel boards: boot output, process loading from
 * TBF headers (kernel version, enabled flag, optional placement check), app models by package name, process
 * restart with a generation count, a fault policy, and a process console (`list`, `panic`).
 *
 * App models here are event-driven (lwIP, IPC services and the WiFi example are callback programs on Tock too).
 * Every callback a model or driver registers goes through `ProcessContext.guard`, so once the process restarts or
 * the kernel stops, stale callbacks from the scheduler's queue do nothing: a dead process cannot print.
 */
import type { KernelImageInfo } from "../kernel-image.ts";
import type { Scheduler } from "../scheduler.ts";
import type { LoadedApp } from "../kernel.ts";

export type ProcessState = "Running" | "Yielded" | "Terminated" | "Faulted";

export type ProcessContext<D> = {
  readonly pid: number;
  readonly name: string;
  /** Restart count + 1: a restarted process is a new generation of the same process slot. */
  readonly generation: number;
  readonly drivers: D;
  print(text: string): void;
  after(ms: number, fn: () => void): void;
  nowMs(): number;
  /** Wraps a callback so it runs only while this process instance (this generation) is alive. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  /** `exit-restart`: the kernel restarts the process (same slot, next generation). */
  exitRestart(): void;
  exitTerminate(): void;
  /** A memory fault: the board's fault policy decides (panic or restart). */
  fault(reason: string): void;
};

export type ProcessModel<D> = (ctx: ProcessContext<D>) => void;

export type ProcessInfo = { pid: number; name: string; generation: number; state: ProcessState; alive: boolean };

/** What other capsules (IPC) may ask of a kernel. */
export type KernelView = {
  readonly alive: boolean;
  findProcess(name: string): ProcessInfo | undefined;
  processByPid(pid: number): ProcessInfo | undefined;
};

type Proc = { pid: number; name: string; generation: number; state: ProcessState; instance: number; header: LoadedApp["header"] };

export type KernelCoreOptions<D> = {
  sched: Scheduler;
  image: KernelImageInfo;
  apps: LoadedApp[];
  models: ReadonlyMap<string, ProcessModel<D>>;
  /** Driver handles a process sees; built per process instance. */
  drivers(proc: { pid: number; name: string; generation: number; alive: () => boolean }): D;
  /** Console writer (UART), with a completion callback when the bytes have left. */
  write(text: string): void;
  /** Lines printed before "Initialization complete" (peripheral discovery, etc.). */
  bootLines: () => string[];
  bootMessage: string;
  bootDelayUs: number;
  faultPolicy: "panic" | "restart";
  /** Extra load filter (e.g. a multi-kernel board loads only apps placed in this kernel's RAM). */
  accepts?: (app: LoadedApp) => boolean;
  onPanic?: () => void;
  onBooted?: () => void;
};

export const PANIC_FILE = "kernel/src/kernel.rs:486:17";

export class KernelCore<D> implements KernelView {
  readonly #o: KernelCoreOptions<D>;
  #alive = true;
  #procs: Proc[] = [];
  #instances = 0;
  #consoleLine = "";

  constructor(options: KernelCoreOptions<D>) {
    this.#o = options;
  }

  get alive(): boolean {
    return this.#alive;
  }

  get kernelVersion(): string {
    return this.#o.image.kernelVersion;
  }

  boot(): void {
    this.#later(this.#o.bootDelayUs, () => {
      for (const line of this.#o.bootLines()) this.#o.write(line);
      this.#o.write(this.#o.bootMessage);
      this.#o.onBooted?.();
      this.#load();
    });
  }

  stop(): void {
    this.#alive = false;
  }

  processes(): ProcessInfo[] {
    return this.#procs.map((p) => ({
      pid: p.pid,
      name: p.name,
      generation: p.generation,
      state: p.state,
      alive: this.#isAlive(p, p.instance),
    }));
  }

  /** Finds a live process by TBF package name (legacy IPC discovery semantics). */
  findProcess(name: string): ProcessInfo | undefined {
    return this.processes().find((p) => p.name === name && p.alive);
  }

  processByPid(pid: number): ProcessInfo | undefined {
    return this.processes().find((p) => p.pid === pid);
  }

  input(text: string): void {
    for (const ch of text) {
      if (ch === "\r" || ch === "\n") {
        const line = this.#consoleLine.trim();
        this.#consoleLine = "";
        if (line.length > 0) this.#command(line);
      } else this.#consoleLine += ch;
    }
  }

  /** Kernel panic: banner with the process table, then silence (the other kernels of a board keep running). */
  panic(message: string): void {
    if (!this.#alive) return;
    let banner = `\r\npanicked at ${PANIC_FILE}:\r\n${message}\r\n\tKernel version ${this.#o.image.kernelVersion}\r\n\r\n---| App Status |---\r\n`;
    for (const p of this.#procs) banner += `App: ${p.name}   -   [${p.state}]\r\n`;
    this.#o.write(banner);
    this.#alive = false;
    for (const p of this.#procs) if (p.state !== "Terminated") p.state = "Faulted";
    this.#o.onPanic?.();
  }

  #later(delayUs: number, fn: () => void): void {
    this.#o.sched.after(delayUs, () => {
      if (this.#alive) fn();
    });
  }

  #isAlive(p: Proc, instance: number): boolean {
    return this.#alive && p.instance === instance && (p.state === "Running" || p.state === "Yielded");
  }

  #load(): void {
    const [kMajor = 0, kMinor = 0] = this.#o.image.kernelVersion.split(".").map((n) => Number.parseInt(n, 10));
    let pid = 0;
    for (const app of this.#o.apps) {
      const h = app.header;
      if (h.kernelVersion && (h.kernelVersion.major !== kMajor || h.kernelVersion.minor > kMinor)) continue;
      if (this.#o.accepts && !this.#o.accepts(app)) continue;
      const proc: Proc = { pid: pid++, name: h.packageName ?? "", generation: 0, state: "Terminated", instance: 0, header: h };
      this.#procs.push(proc);
      if (h.enabled) this.#start(proc);
    }
  }

  #start(proc: Proc): void {
    proc.generation++;
    proc.instance = ++this.#instances;
    proc.state = "Yielded";
    const model = this.#o.models.get(proc.name);
    // Unknown package: the process exists but runs code we cannot model, so it only ever yields.
    if (!model) return;
    const instance = proc.instance;
    const alive = (): boolean => this.#isAlive(proc, instance);
    const ctx: ProcessContext<D> = {
      pid: proc.pid,
      name: proc.name,
      generation: proc.generation,
      drivers: this.#o.drivers({ pid: proc.pid, name: proc.name, generation: proc.generation, alive }),
      print: (text) => {
        if (alive()) this.#o.write(text);
      },
      after: (ms, fn) => this.#later(Math.round(ms * 1000), () => alive() && fn()),
      nowMs: () => this.#o.sched.nowUs / 1000,
      guard:
        (fn) =>
        (...args) => {
          if (alive()) fn(...args);
        },
      exitRestart: () => {
        if (!alive()) return;
        proc.state = "Terminated";
        this.#later(0, () => this.#start(proc));
      },
      exitTerminate: () => {
        if (alive()) proc.state = "Terminated";
      },
      fault: (reason) => {
        if (!alive()) return;
        proc.state = "Faulted";
        if (this.#o.faultPolicy === "panic") this.panic(`Process ${proc.name} had a fault (${reason})`);
        else this.#later(0, () => this.#start(proc));
      },
    };
    this.#later(0, () => {
      if (alive()) model(ctx);
    });
  }

  #command(line: string): void {
    const [cmd = ""] = line.split(/\s+/);
    let out = `tock$ ${line}\r\n`;
    if (cmd === "list") {
      out += " PID    ShortID    Name                Quanta  Syscalls  Restarts  Grants  State\r\n";
      for (const p of this.#procs) {
        out +=
          ` ${String(p.pid).padEnd(7)}Unique     ${p.name.padEnd(20).slice(0, 20)}` +
          `${"0".padStart(6)}  ${"0".padStart(8)}  ${String(Math.max(0, p.generation - 1)).padStart(8)}  ${"1/16".padStart(6)}  ${p.state}\r\n`;
      }
      this.#o.write(out);
      return;
    }
    if (cmd === "panic") {
      this.#o.write(out);
      this.panic("Process Console forced a kernel panic.");
      return;
    }
    this.#o.write(
      out +
        "Valid commands are: help status list stop start fault boot terminate process kernel reset panic console-start console-stop\r\n",
    );
  }
}
