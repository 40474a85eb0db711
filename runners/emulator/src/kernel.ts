/**
 * One boot of the emulated Tock kernel on an nRF52840DK: boot banner, process loading, the 15.4 capsule (MAC or
 * raw flavour), process scheduling of app models and a small process console.
 *
 * A `Kernel` lives from a reset until the next reset/halt/panic; `stop()` makes every pending callback of this boot
 * a no-op, which is how a halted board goes silent even though its events are still in the scheduler's queue.
 */
import type { AppModel, AppProgram, AppSys, BlockingSyscall } from "./apps/runtime.ts";
import { ReturnCode } from "./apps/runtime.ts";
import { appModels } from "./apps/index.ts";
import { BROADCAST, FrameDecodeError, FrameType, FrameVersion, FCS_LENGTH, decodeFrame, encodeFrame } from "./frame.ts";
import type { KernelImageInfo } from "./kernel-image.ts";
import type { Rng } from "./prng.ts";
import type { Radio } from "./radio.ts";
import type { EventHandle, Scheduler } from "./scheduler.ts";
import type { TbfHeader } from "./tbf.ts";
import type { Uart } from "./uart.ts";

/** libtock-c `libtock_ieee802154_RING_BUFFER_LEN` frames. */
export const RX_RING_SLOTS = 3;
/** Time from reset to the kernel's first output (clock setup, peripheral init). */
export const BOOT_DELAY_US = 12_000;
export const BOOT_MESSAGE = "Initialization complete. Entering main loop\r\n";

export type LoadedApp = { header: TbfHeader; address: number };

type ProcessState = "Running" | "Yielded" | "Terminated" | "Stopped(Running)" | "Stopped(Yielded)";

type Process = {
  pid: number;
  name: string;
  state: ProcessState;
  syscalls: number;
  restarts: number;
  enabled: boolean;
  program: AppProgram | undefined;
  /** Receive ring (slots) once the app has asked to receive. */
  ring: Uint8Array[] | undefined;
  waitingForFrame: boolean;
  /** Timer of a pending `wait` (receive with timeout). */
  waitTimer: EventHandle | undefined;
  framesDelivered: number;
  /** While stopped: the syscall result to resume with once started again. */
  parked: { value: unknown } | undefined;
};

/** Counters exposed for cross-checks (e.g. a block printed per frame delivered, never more). */
export type KernelStats = { framesToApps: number; framesFiltered: number; fcsDrops: number; undecodable: number };

export class Kernel {
  readonly #sched: Scheduler;
  readonly #uart: Uart;
  readonly #radio: Radio;
  readonly #image: KernelImageInfo;
  readonly #apps: LoadedApp[];
  readonly #onPanic: () => void;
  readonly #onReset: () => void;
  readonly #rng: Rng;
  readonly #eui64: Uint8Array;
  readonly #emulation: { wrongNetworkKey: boolean };
  #alive = true;
  #nextPid = 0;
  #procs: Process[] = [];
  #shortAddress: number;
  #pan = 0xabcd;
  #seq = 0;
  #txBusy = false;
  #consoleLine = "";
  stats: KernelStats = { framesToApps: 0, framesFiltered: 0, fcsDrops: 0, undecodable: 0 };

  constructor(options: {
    sched: Scheduler;
    uart: Uart;
    radio: Radio;
    image: KernelImageInfo;
    apps: LoadedApp[];
    onPanic: () => void;
    /** Short address the board file derives from the chip's FICR device id before any app sets one. */
    defaultShortAddress: number;
    /** Process console `reset`: the board resets itself. */
    onReset?: () => void;
    rng: Rng;
    eui64: Uint8Array;
    emulation?: { wrongNetworkKey: boolean };
  }) {
    this.#sched = options.sched;
    this.#uart = options.uart;
    this.#radio = options.radio;
    this.#image = options.image;
    this.#apps = options.apps;
    this.#onPanic = options.onPanic;
    this.#onReset = options.onReset ?? (() => undefined);
    this.#rng = options.rng;
    this.#eui64 = options.eui64.slice();
    this.#emulation = options.emulation ?? { wrongNetworkKey: false };
    this.#shortAddress = options.defaultShortAddress & 0xffff;
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Schedules the boot sequence from the current instant (just after reset); `booted` runs after the banner. */
  boot(booted?: () => void): void {
    this.#radio.powerOff();
    this.#radio.channel = this.#image.channel;
    this.#radio.onReceive = (psdu, crcValid) => {
      if (this.#alive) this.#onFrame(psdu, crcValid);
    };
    this.#later(BOOT_DELAY_US, () => {
      this.#write(BOOT_MESSAGE);
      this.#loadProcesses();
      booted?.();
    });
  }

  /** The CPU locks up: nothing more happens until the next reset (an injected hang). */
  hang(): void {
    this.stop();
  }

  /** Injected kernel panic with the standard banner. */
  injectPanic(reason: string): void {
    if (!this.#alive) return;
    this.#panic("", "boards/nordic/nrf52840dk/src/main.rs:1:1", reason);
  }

  /** Stops this boot: no more output, radio off, every pending callback ignored. */
  stop(): void {
    this.#alive = false;
    this.#radio.powerOff();
    this.#radio.onReceive = undefined;
  }

  /** Bytes arriving on the console RX line (process console input). */
  input(text: string): void {
    for (const ch of text) {
      if (ch === "\r" || ch === "\n") {
        const line = this.#consoleLine.trim();
        this.#consoleLine = "";
        if (line.length > 0) this.#command(line);
      } else {
        this.#consoleLine += ch;
      }
    }
  }

  /** What `list` shows, also useful to tests. */
  processes(): { pid: number; name: string; state: ProcessState; framesDelivered: number; restarts: number }[] {
    return this.#procs.map((p) => ({ pid: p.pid, name: p.name, state: p.state, framesDelivered: p.framesDelivered, restarts: p.restarts }));
  }

  #later(delayUs: number, fn: () => void): void {
    this.#sched.after(delayUs, () => {
      if (this.#alive) fn();
    });
  }

  #write(text: string, done?: () => void): void {
    this.#uart.write(new TextEncoder().encode(text), done && (() => this.#alive && done()));
  }

  #loadProcesses(): void {
    const [kMajor = 0, kMinor = 0] = this.#image.kernelVersion.split(".").map((n) => Number.parseInt(n, 10));
    for (const app of this.#apps) {
      const h = app.header;
      // The kernel refuses apps built for an incompatible kernel (same major, minor not newer), as Tock does.
      if (h.kernelVersion && (h.kernelVersion.major !== kMajor || h.kernelVersion.minor > kMinor)) continue;
      const proc: Process = {
        pid: 0,
        name: h.packageName ?? "",
        state: "Yielded",
        syscalls: 0,
        restarts: 0,
        enabled: h.enabled,
        program: undefined,
        ring: undefined,
        waitingForFrame: false,
        waitTimer: undefined,
        framesDelivered: 0,
        parked: undefined,
      };
      // Tock skips a disabled app at load time: no process is created, so it is absent from `list`.
      if (!h.enabled) continue;
      proc.pid = this.#nextPid++;
      this.#procs.push(proc);
      this.#start(proc);
    }
  }

  /** Starts (or restarts) a process's program from its entry point. */
  #start(proc: Process): void {
    proc.state = "Yielded";
    proc.ring = undefined;
    proc.waitingForFrame = false;
    proc.waitTimer?.cancel();
    proc.waitTimer = undefined;
    proc.parked = undefined;
    const model: AppModel | undefined = appModels.get(proc.name);
    // Unknown package: Tock would run code we cannot model; the process exists but produces nothing.
    if (!model) return;
    const program = model(this.#sysFor(proc));
    proc.program = program;
    proc.state = "Running";
    this.#later(0, () => {
      if (proc.program === program) this.#step(proc, undefined);
    });
  }

  #sysFor(proc: Process): AppSys {
    const command = (fn: () => number): number => {
      proc.syscalls++;
      return fn();
    };
    return {
      ieee802154SetShortAddress: (addr) =>
        command(() => {
          this.#shortAddress = addr & 0xffff;
          return ReturnCode.SUCCESS;
        }),
      ieee802154SetPan: (pan) =>
        command(() => {
          this.#pan = pan & 0xffff;
          return ReturnCode.SUCCESS;
        }),
      ieee802154ConfigCommit: () => command(() => ReturnCode.SUCCESS),
      ieee802154Up: () =>
        command(() => {
          this.#radio.powerOn();
          return ReturnCode.SUCCESS;
        }),
      ieee802154SetChannel: (channel) =>
        command(() => {
          if (this.#image.flavour !== "raw") return ReturnCode.ENOSUPPORT;
          if (!Number.isInteger(channel) || channel < 11 || channel > 26) return ReturnCode.EINVAL;
          this.#radio.channel = channel;
          return ReturnCode.SUCCESS;
        }),
      nowMs: () => this.#sched.nowUs / 1000,
      random32: () => this.#rng.nextU32(),
      deviceEui64: () => this.#eui64.slice(),
      emulation: this.#emulation,
    };
  }

  /** Resumes a process with the result of its last blocking syscall and starts the next one. */
  #step(proc: Process, result: unknown): void {
    if (!this.#alive || !proc.program) return;
    if (proc.state.startsWith("Stopped")) {
      // A stopped process is not scheduled: its upcall waits until `start`.
      proc.parked = { value: result };
      proc.state = "Stopped(Running)";
      return;
    }
    proc.state = "Running";
    const next = proc.program.next(result);
    if (next.done) {
      proc.state = "Terminated";
      proc.program = undefined;
      return;
    }
    proc.syscalls++;
    proc.state = "Yielded";
    this.#syscall(proc, next.value);
  }

  #syscall(proc: Process, call: BlockingSyscall): void {
    // Completions of a terminated (or since rebooted) program must not resume the new one.
    const program = proc.program;
    const resume = (value: unknown): void => {
      if (proc.program === program) this.#step(proc, value);
    };
    switch (call.op) {
      case "print":
        this.#write(call.text, () => resume(undefined));
        return;
      case "delay":
        this.#later(Math.round(call.ms * 1000), () => resume(undefined));
        return;
      case "send":
        this.#send(call.dst, call.payload, (rc) => resume(rc));
        return;
      case "receive": {
        proc.ring ??= [];
        const slot = proc.ring.shift();
        if (slot) this.#later(0, () => resume(slot));
        else proc.waitingForFrame = true;
        return;
      }
      case "wait": {
        proc.ring ??= [];
        const slot = proc.ring.shift();
        if (slot) return void this.#later(0, () => resume(slot));
        proc.waitingForFrame = true;
        // Rounded up: waking a fraction of a microsecond early would leave the app with nothing due, spinning.
        proc.waitTimer = this.#sched.after(Math.max(0, Math.ceil(call.ms * 1000)), () => {
          if (!this.#alive || proc.program !== program || !proc.waitingForFrame) return;
          proc.waitingForFrame = false;
          proc.waitTimer = undefined;
          resume(undefined);
        });
        return;
      }
      case "sendRaw":
        this.#sendRaw(call.frame, (rc) => resume(rc));
        return;
    }
  }

  /** The raw (PHY) driver's transmit: the app's bytes go out as they are, behind the same CSMA. */
  #sendRaw(frame: Uint8Array, done: (rc: number) => void): void {
    if (this.#image.flavour !== "raw") return void this.#later(0, () => done(ReturnCode.ENOSUPPORT));
    if (this.#txBusy) return void this.#later(0, () => done(ReturnCode.EBUSY));
    if (!this.#radio.isOn) return void this.#later(0, () => done(ReturnCode.EOFF));
    if (frame.length + FCS_LENGTH > 127 || frame.length < 3) return void this.#later(0, () => done(ReturnCode.ESIZE));
    this.#txBusy = true;
    this.#radio.transmit(frame.slice(), (status) => {
      this.#txBusy = false;
      if (!this.#alive) return;
      done(status === "ok" ? ReturnCode.SUCCESS : status === "busy" ? ReturnCode.EBUSY : ReturnCode.EOFF);
    });
  }

  /** The MAC capsule's transmit path (framer: data, AR=1, 2006, PAN ID compression, short addresses). */
  #send(dst: number, payload: Uint8Array, done: (rc: number) => void): void {
    if (this.#image.flavour !== "mac") return void this.#later(0, () => done(ReturnCode.ENOSUPPORT));
    if (this.#txBusy) return void this.#later(0, () => done(ReturnCode.EBUSY));
    if (!this.#radio.isOn) return void this.#later(0, () => done(ReturnCode.EOFF));
    let frame: Uint8Array;
    try {
      frame = encodeFrame({
        frameType: FrameType.data,
        securityEnabled: false,
        framePending: false,
        ackRequest: true,
        panIdCompression: true,
        frameVersion: FrameVersion.v2006,
        seq: this.#seq,
        dstPan: this.#pan,
        dst: { mode: "short", value: dst & 0xffff },
        srcPan: this.#pan,
        src: { mode: "short", value: this.#shortAddress },
        payload,
      });
    } catch {
      return void this.#later(0, () => done(ReturnCode.ESIZE));
    }
    this.#seq = (this.#seq + 1) & 0xff;
    this.#txBusy = true;
    this.#radio.transmit(frame, (status) => {
      this.#txBusy = false;
      if (!this.#alive) return;
      // The nRF driver never waits for an ACK, so success is reported as "sent, not acked" and libtock-c's sync
      // send returns only the status.
      done(status === "ok" ? ReturnCode.SUCCESS : status === "busy" ? ReturnCode.EBUSY : ReturnCode.EOFF);
    });
  }

  /** Receive path: CRC check, parse, destination filter (no PAN filter), then each listening app's ring. */
  #onFrame(psdu: Uint8Array, crcValid: boolean): void {
    if (!crcValid) {
      this.stats.fcsDrops++;
      return;
    }
    const bytes = psdu.subarray(0, psdu.length - FCS_LENGTH);
    let headerLength: number;
    let payloadLength: number;
    try {
      const decoded = decodeFrame(bytes);
      if (this.#image.flavour === "raw") {
        // The PHY driver hands every good frame up whole (ACKs included): header_len = mic_len = 0.
        headerLength = 0;
        payloadLength = bytes.length;
        return this.#deliver(bytes, headerLength, payloadLength);
      }
      if (decoded.frame.frameType !== FrameType.data) return;
      const dst = decoded.frame.dst;
      const forUs = dst.mode === "short" && (dst.value === this.#shortAddress || dst.value === BROADCAST);
      // The raw (PHY) driver hands every good frame up; the MAC filters on destination address only.
      if (this.#image.flavour === "mac" && !forUs) {
        this.stats.framesFiltered++;
        return;
      }
      headerLength = decoded.headerLength;
      payloadLength = decoded.frame.payload.length;
    } catch (err) {
      if (!(err instanceof FrameDecodeError)) throw err;
      this.stats.undecodable++;
      return;
    }
    this.#deliver(bytes, headerLength, payloadLength);
  }

  #deliver(bytes: Uint8Array, headerLength: number, payloadLength: number): void {
    const slot = new Uint8Array(3 + bytes.length);
    slot[0] = headerLength;
    slot[1] = payloadLength;
    slot[2] = 0;
    slot.set(bytes, 3);
    for (const proc of this.#procs) {
      if (!proc.ring || !proc.program) continue;
      this.stats.framesToApps++;
      proc.framesDelivered++;
      if (proc.waitingForFrame) {
        proc.waitingForFrame = false;
        proc.waitTimer?.cancel();
        proc.waitTimer = undefined;
        this.#later(0, () => this.#step(proc, slot));
        continue;
      }
      // The kernel overwrites the oldest slot when the app has not drained the ring.
      if (proc.ring.length >= RX_RING_SLOTS) proc.ring.shift();
      proc.ring.push(slot);
    }
  }

  #command(line: string): void {
    const [cmd = "", arg = ""] = line.split(/\s+/);
    let out = `tock$ ${line}\r\n`;
    const named = (): Process | undefined => this.#procs.find((p) => p.name === arg);
    switch (cmd) {
      case "list": {
        out += " PID    ShortID    Name                Quanta  Syscalls  Restarts  Grants  State\r\n";
        for (const p of this.#procs) {
          out +=
            ` ${String(p.pid).padEnd(7)}Unique     ${p.name.padEnd(20).slice(0, 20)}` +
            `${"0".padStart(6)}  ${String(p.syscalls).padStart(8)}  ${String(p.restarts).padStart(8)}  ${"1/16".padStart(6)}  ${p.state}\r\n`;
        }
        this.#write(out);
        return;
      }
      case "stop":
      case "start":
      case "terminate":
      case "boot": {
        const p = named();
        if (!p) {
          this.#write(`${out}Process not found: ${arg}\r\n`);
          return;
        }
        this.#write(out + this.#control(cmd, p));
        return;
      }
      case "reset":
        // The board resets right after the echo has left the UART.
        this.#write(out, () => this.#onReset());
        return;
      case "panic":
        this.#panic(out);
        return;
      default:
        out +=
          "Valid commands are: help status list stop start fault boot terminate process kernel reset panic " +
          "console-start console-stop\r\n";
        this.#write(out);
    }
  }

  /** Process console process control; returns the reply line. */
  #control(cmd: "stop" | "start" | "terminate" | "boot", p: Process): string {
    switch (cmd) {
      case "stop":
        if (p.state === "Running" || p.state === "Yielded") p.state = p.state === "Running" ? "Stopped(Running)" : "Stopped(Yielded)";
        return `Process ${p.name} stopped\r\n`;
      case "start": {
        if (!p.state.startsWith("Stopped")) return `Process ${p.name} is not stopped\r\n`;
        const parked = p.parked;
        p.parked = undefined;
        p.state = "Yielded";
        if (parked) this.#later(0, () => this.#step(p, parked.value));
        return `Process ${p.name} resumed\r\n`;
      }
      case "terminate":
        p.program = undefined;
        p.waitTimer?.cancel();
        p.waitTimer = undefined;
        p.waitingForFrame = false;
        p.ring = undefined;
        p.state = "Terminated";
        return `Process ${p.name} terminated\r\n`;
      case "boot":
        if (p.state !== "Terminated") return `Process ${p.name} is already running\r\n`;
        if (!p.enabled) return `Process ${p.name} is disabled\r\n`;
        // A restarted process gets a new identifier, as Tock's ProcessId does.
        p.pid = this.#nextPid++;
        p.restarts++;
        this.#start(p);
        return `Process ${p.name} booted\r\n`;
    }
  }

  #panic(prefix: string, location = "kernel/src/process_console.rs:1122:17", message = "Process Console forced a kernel panic."): void {
    // Everything stops at once; only the banner still drains out of the UART.
    for (const p of this.#procs) p.program = undefined;
    this.#radio.powerOff();
    const apps = this.#procs.map((p) => `App: ${p.name}   -   [${p.state}]\r\n`).join("");
    const banner =
      `${prefix}\r\npanicked at ${location}:\r\n` +
      `${message}\r\n\tKernel version ${this.#image.kernelVersion}\r\n` +
      `\r\n---| App Status |---\r\n${apps}`;
    this.#uart.write(new TextEncoder().encode(banner));
    this.stop();
    this.#onPanic();
  }
}
