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
import type { Radio } from "./radio.ts";
import type { Scheduler } from "./scheduler.ts";
import type { TbfHeader } from "./tbf.ts";
import type { Uart } from "./uart.ts";

/** libtock-c `libtock_ieee802154_RING_BUFFER_LEN` frames. */
export const RX_RING_SLOTS = 3;
/** Time from reset to the kernel's first output (clock setup, peripheral init). */
export const BOOT_DELAY_US = 12_000;
export const BOOT_MESSAGE = "Initialization complete. Entering main loop\r\n";

export type LoadedApp = { header: TbfHeader; address: number };

type ProcessState = "Running" | "Yielded" | "Terminated";

type Process = {
  pid: number;
  name: string;
  state: ProcessState;
  syscalls: number;
  program: AppProgram | undefined;
  /** Receive ring (slots) once the app has asked to receive. */
  ring: Uint8Array[] | undefined;
  waitingForFrame: boolean;
  framesDelivered: number;
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
  #alive = true;
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
  }) {
    this.#sched = options.sched;
    this.#uart = options.uart;
    this.#radio = options.radio;
    this.#image = options.image;
    this.#apps = options.apps;
    this.#onPanic = options.onPanic;
    this.#shortAddress = options.defaultShortAddress & 0xffff;
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Schedules the boot sequence from the current instant (just after reset). */
  boot(): void {
    this.#radio.powerOff();
    this.#radio.channel = this.#image.channel;
    this.#radio.onReceive = (psdu, crcValid) => {
      if (this.#alive) this.#onFrame(psdu, crcValid);
    };
    this.#later(BOOT_DELAY_US, () => {
      this.#write(BOOT_MESSAGE);
      this.#loadProcesses();
    });
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
  processes(): { pid: number; name: string; state: ProcessState; framesDelivered: number }[] {
    return this.#procs.map((p) => ({ pid: p.pid, name: p.name, state: p.state, framesDelivered: p.framesDelivered }));
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
    let pid = 0;
    for (const app of this.#apps) {
      const h = app.header;
      // The kernel refuses apps built for an incompatible kernel (same major, minor not newer), as Tock does.
      if (h.kernelVersion && (h.kernelVersion.major !== kMajor || h.kernelVersion.minor > kMinor)) continue;
      const proc: Process = {
        pid: pid++,
        name: h.packageName ?? "",
        state: "Yielded",
        syscalls: 0,
        program: undefined,
        ring: undefined,
        waitingForFrame: false,
        framesDelivered: 0,
      };
      this.#procs.push(proc);
      if (!h.enabled) {
        proc.state = "Terminated";
        continue;
      }
      const model: AppModel | undefined = appModels.get(proc.name);
      // Unknown package: Tock would run code we cannot model; the process exists but produces nothing.
      if (!model) continue;
      proc.program = model(this.#sysFor(proc));
      proc.state = "Running";
      this.#later(0, () => this.#step(proc, undefined));
    }
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
    };
  }

  /** Resumes a process with the result of its last blocking syscall and starts the next one. */
  #step(proc: Process, result: unknown): void {
    if (!this.#alive || !proc.program) return;
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
    const resume = (value: unknown): void => this.#step(proc, value);
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
    }
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
        this.#later(0, () => this.#step(proc, slot));
        continue;
      }
      // The kernel overwrites the oldest slot when the app has not drained the ring.
      if (proc.ring.length >= RX_RING_SLOTS) proc.ring.shift();
      proc.ring.push(slot);
    }
  }

  #command(line: string): void {
    const [cmd = ""] = line.split(/\s+/);
    let out = `tock$ ${line}\r\n`;
    switch (cmd) {
      case "list": {
        out += " PID    ShortID    Name                Quanta  Syscalls  Restarts  Grants  State\r\n";
        for (const p of this.#procs) {
          out +=
            ` ${String(p.pid).padEnd(7)}Unique     ${p.name.padEnd(20).slice(0, 20)}` +
            `${"0".padStart(6)}  ${String(p.syscalls).padStart(8)}  ${"0".padStart(8)}  ${"1/16".padStart(6)}  ${p.state}\r\n`;
        }
        this.#write(out);
        return;
      }
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

  #panic(prefix: string): void {
    // Everything stops at once; only the banner still drains out of the UART.
    for (const p of this.#procs) p.program = undefined;
    this.#radio.powerOff();
    const banner =
      `${prefix}\r\npanicked at kernel/src/process_console.rs:1122:17:\r\n` +
      `Process Console forced a kernel panic.\r\n\tKernel version ${this.#image.kernelVersion}\r\n`;
    this.#uart.write(new TextEncoder().encode(banner));
    this.stop();
    this.#onPanic();
  }
}
