/**
 * Emulated nRF52840DKs dressed up as real lab hardware, so the hardware adapter runs its exact lab code path:
 * - each board's console is a pseudo-terminal pair made by `socat`; the runner opens one end with `serialport`,
 *   this process bridges the other end to the emulated UART;
 * - flash tools are executables (test/fixtures/fake-probe-tool.mjs under the names nrfjprog and tockloader) that
 *   forward their argv and files over a Unix socket to this process, which writes the images into the emulator,
 *   resets or halts it, or plays a failure (probe unplugged, tool hanging, read-back mismatch);
 * - the emulator's virtual clock is paced to wall time, like a real board.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { FirmwareImage } from "@tock-hil/board";
import { createEmulatedLab } from "@tock-hil/emulator";
import type { EmulatedBoard, EmulatedLab } from "@tock-hil/emulator";
import { execa } from "execa";
import type { ResultPromise } from "execa";
import { SerialPort } from "serialport";

export const FAKE_TOOL = resolve(import.meta.dirname, "../fixtures/fake-probe-tool.mjs");

/** How a probe behaves when a tool talks to it. */
export type ProbeMode = "ok" | "absent" | "hang" | "verify_fail";

/**
 * A probe that stops answering for some actions only (`--halt`, `--program`, `--reset`...; every action when
 * `actions` is empty), with a tool that may also ignore SIGTERM, as a wedged J-Link DLL does.
 */
export type HangSpec = { actions: string[]; ignoreTerm: boolean };

type Bridge = { board: EmulatedBoard; probe: string; device: string; socat: ResultPromise; port: SerialPort; off: () => void };

type Pending = { kernel?: Uint8Array; apps: Uint8Array[] };

const KERNEL_ADDRESS = 0x0;
const APPS_ADDRESS = 0x40000;

export class PtyLab {
  /** Every tool run, with its process id (to check that a stopped tool is really gone). */
  readonly requests: { tool: string; args: string[]; pid: number }[] = [];
  private readonly modes = new Map<string, ProbeMode>();
  private readonly hangs = new Map<string, HangSpec>();
  private readonly bridges = new Map<string, Bridge>();
  private readonly pending = new Map<string, Pending>();
  private server: Server | undefined;
  private pacing = true;
  private pacer: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly emulated: EmulatedLab,
  ) {}

  get binDir() {
    return join(this.dir, "bin");
  }

  get socketPath() {
    return join(this.dir, "probe.sock");
  }

  /** Environment for processes that should find the fake tools (the runner, or this process's execa calls). */
  env(): Record<string, string> {
    return { PATH: `${this.binDir}:${process.env.PATH ?? ""}`, HIL_FAKE_PROBE_SOCKET: this.socketPath };
  }

  static async start(boards: { name: string; probe: string }[]): Promise<PtyLab> {
    const dir = await mkdtemp(join(tmpdir(), "pty-lab-"));
    const lab = new PtyLab(dir, createEmulatedLab({ boards: boards.map((b) => ({ name: b.name, type: "nrf52840dk" })) }));
    await execa("mkdir", ["-p", lab.binDir]);
    for (const tool of ["nrfjprog", "tockloader"]) await symlink(FAKE_TOOL, join(lab.binDir, tool));
    for (const b of boards) await lab.bridge(b.name, b.probe);
    await lab.listen();
    lab.pacer = lab.pace();
    return lab;
  }

  device(board: string): string {
    return this.bridges.get(board)!.device;
  }

  setMode(probe: string, mode: ProbeMode) {
    this.modes.set(probe, mode);
  }

  /** Makes the probe hang for some actions (see HangSpec); `undefined` clears it. */
  setHang(probe: string, spec: HangSpec | undefined) {
    if (spec) this.hangs.set(probe, spec);
    else this.hangs.delete(probe);
  }

  /** Bytes that show up on a board's console as if the board printed them (e.g. a previous job's tail). */
  async inject(board: string, text: string) {
    const port = this.bridges.get(board)!.port;
    await new Promise<void>((r) => port.write(text, () => port.drain(() => r())));
  }

  /** How many times a tool ran a given action (`--program`, `flash`, `--reset`...). */
  count(tool: string, action: string) {
    return this.requests.filter((r) => r.tool === tool && r.args.includes(action)).length;
  }

  private async bridge(name: string, probe: string) {
    const device = join(this.dir, `tty-${name}`);
    const inner = join(this.dir, `emu-${name}`);
    const socat = execa("socat", [`pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${inner}`], {
      reject: false,
      forceKillAfterDelay: 2000,
    });
    const deadline = Date.now() + 5000;
    while (!(existsSync(device) && existsSync(inner))) {
      if (Date.now() > deadline) throw new Error("socat did not create the pty pair");
      await new Promise((r) => setTimeout(r, 20));
    }
    const port = new SerialPort({ path: inner, baudRate: 115200, autoOpen: false });
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    const board = this.emulated.board(name);
    const off = board.serial.onData((chunk) => port.write(Buffer.from(chunk)));
    port.on("data", (d: Buffer) => void board.serial.write(new Uint8Array(d)));
    this.bridges.set(name, { board, probe, device, socat, port, off });
    this.pending.set(name, { apps: [] });
  }

  /** Advances the emulator's virtual time along with wall time. */
  private async pace() {
    const start = performance.now();
    const origin = this.emulated.clock.now();
    while (this.pacing) {
      await new Promise((r) => setTimeout(r, 5));
      const behind = performance.now() - start - (this.emulated.clock.now() - origin);
      if (behind > 0) await this.emulated.clock.sleep(behind);
    }
  }

  private async listen() {
    this.server = createServer((conn) => {
      let buffer = "";
      conn.on("data", (d) => {
        buffer += d.toString();
        const nl = buffer.indexOf("\n");
        if (nl < 0) return;
        const req = JSON.parse(buffer.slice(0, nl)) as { tool: string; args: string[]; files: Record<string, string>; pid: number };
        void this.handle(req).then(
          (answer) => conn.end(`${JSON.stringify(answer)}\n`),
          (err: unknown) => conn.end(`${JSON.stringify({ stderr: `fake tool crashed: ${(err as Error).message}\n`, exitCode: 99 })}\n`),
        );
      });
      conn.on("error", () => {});
    });
    await new Promise<void>((r) => this.server!.listen(this.socketPath, r));
  }

  private async handle(req: { tool: string; args: string[]; files: Record<string, string>; pid: number }): Promise<{
    stdout?: string;
    stderr?: string;
    exitCode?: number;
    hang?: boolean;
    ignoreTerm?: boolean;
  }> {
    this.requests.push({ tool: req.tool, args: req.args, pid: req.pid });
    const arg = (flag: string) => {
      const i = req.args.indexOf(flag);
      return i >= 0 ? req.args[i + 1] : undefined;
    };
    const probe = arg("--snr") ?? arg("--jlink-serial-number") ?? arg("--openocd-serial-number");
    const bridge = [...this.bridges.values()].find((b) => b.probe === probe);
    const mode = (probe && this.modes.get(probe)) ?? "ok";
    if (!bridge || mode === "absent") {
      return req.tool === "nrfjprog"
        ? { stdout: "ERROR: Unable to connect to a debugger.\nERROR: There is no debugger connected to the PC.\n", exitCode: 41 }
        : { stderr: "[ERROR] Could not open J-Link: No J-Link device found.\n", exitCode: 1 };
    }
    if (mode === "hang") return { hang: true };
    const hang = probe ? this.hangs.get(probe) : undefined;
    if (hang && (hang.actions.length === 0 || hang.actions.some((a) => req.args.includes(a))))
      return { hang: true, ignoreTerm: hang.ignoreTerm };
    const file = (path: string) => new Uint8Array(Buffer.from(req.files[path] ?? "", "base64"));
    const pending = this.pending.get(bridge.board.name)!;
    const writes =
      req.tool === "nrfjprog" ? req.args.includes("--program") : ["flash", "install", "erase-apps"].includes(req.args[0] ?? "");
    if (req.tool === "nrfjprog") {
      if (req.args.includes("--program")) {
        const segments = parseIntelHex(new TextDecoder().decode(file(arg("--program")!)));
        pending.kernel = segments.get(KERNEL_ADDRESS);
        pending.apps = splitApps(segments.get(APPS_ADDRESS));
      } else if (req.args.includes("--reset")) {
        await bridge.board.reset();
        return { stdout: "Applying system reset.\nRun.\n" };
      } else if (req.args.includes("--halt")) {
        await bridge.board.halt();
        return { stdout: "Halting the device.\n" };
      }
    } else if (req.args[0] === "flash") {
      pending.kernel = file(req.args[req.args.length - 1]!);
    } else if (req.args[0] === "install") {
      pending.apps = req.args.filter((a) => a in req.files).map(file);
    } else if (req.args[0] === "erase-apps") {
      pending.apps = [];
    }
    if (writes) {
      await this.apply(bridge.board, pending);
      if (mode === "verify_fail") {
        return req.tool === "nrfjprog"
          ? { stdout: "Parsing image file.\nVerifying programming.\nERROR: Write verify failed.\n", exitCode: 55 }
          : { stderr: "[ERROR] Verification failed: flash contents do not match\n", exitCode: 1 };
      }
      return { stdout: `${req.tool}: written\n` };
    }
    return { stdout: "" };
  }

  /** What the probe wrote becomes the emulated board's flash; an image the emulator refuses leaves it erased. */
  private async apply(board: EmulatedBoard, pending: Pending) {
    const image = (bytes: Uint8Array, kind: FirmwareImage["kind"], i: number): FirmwareImage => ({
      name: `${kind}-${i}`,
      kind,
      bytes,
      sha256: createHash("sha256").update(bytes).digest("hex"),
    });
    const images = [...(pending.kernel ? [image(pending.kernel, "kernel", 0)] : []), ...pending.apps.map((a, i) => image(a, "tbf", i))];
    await board.flash(images).catch(() => undefined);
  }

  async close() {
    this.pacing = false;
    await this.pacer;
    for (const b of this.bridges.values()) {
      b.off();
      await new Promise<void>((r) => b.port.close(() => r()));
      b.socat.kill("SIGTERM");
      await b.socat;
    }
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.emulated.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Contiguous data runs of an Intel HEX file, keyed by start address. */
export function parseIntelHex(text: string): Map<number, Uint8Array> {
  const runs: { start: number; bytes: number[] }[] = [];
  let upper = 0;
  for (const line of text.split(/\r?\n/)) {
    if (!line.startsWith(":")) continue;
    const raw = Buffer.from(line.slice(1), "hex");
    const len = raw[0]!;
    const addr = raw.readUInt16BE(1);
    const type = raw[3]!;
    const data = [...raw.subarray(4, 4 + len)];
    if (type === 4) upper = raw.readUInt16BE(4) << 16;
    if (type !== 0) continue;
    const at = (upper + addr) >>> 0;
    const last = runs[runs.length - 1];
    if (last && last.start + last.bytes.length === at) last.bytes.push(...data);
    else runs.push({ start: at, bytes: data });
  }
  return new Map(runs.map((r) => [r.start, Uint8Array.from(r.bytes)]));
}

/** Splits an apps region into TBFs, stopping at erased flash, as the kernel's loader walks it. */
export function splitApps(region: Uint8Array | undefined): Uint8Array[] {
  const apps: Uint8Array[] = [];
  if (!region) return apps;
  let off = 0;
  while (off + 16 <= region.length) {
    const dv = new DataView(region.buffer, region.byteOffset + off);
    if (dv.getUint16(0, true) !== 2) break;
    const total = dv.getUint32(4, true);
    if (total < 16 || off + total > region.length) break;
    apps.push(region.slice(off, off + total));
    off += total;
  }
  return apps;
}
