/**
 * `hil-runner doctor`: what a lab maintainer runs after plugging boards in. It says where it looked (serial
 * devices, USB probes, flash tools on PATH, the lab config) and, for each configured board, what is missing, so
 * "the runner does nothing" becomes "probe 683… is not connected".
 */
import { constants, existsSync } from "node:fs";
import { access, readdir, readFile, realpath } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";
import { execa } from "execa";
import { SerialPort } from "serialport";
import { DEFAULT_TOOL, controlArgv, isBootDrive } from "./adapters/flash-methods.ts";
import { templateArgv } from "./adapters/tool-runner.ts";
import type { HardwareBoardConfig, LoadedLabConfig } from "./lab-config.ts";
import { loadLabConfig } from "./lab-config.ts";

export type DoctorOptions = {
  configPath: string;
  /** PATH to search for tools. */
  path: string;
  byIdDir?: string;
  usbDir?: string;
  /** Bound on each probe of a tool (`--version`) and each serial open. */
  timeoutMs?: number;
};

export type DoctorReport = { text: string; problems: number };

/** USB vendors of the probes and boards Tock labs use. */
const USB_VENDORS: Record<string, string> = {
  "1366": "SEGGER J-Link",
  "0d28": "ARM DAPLink (CMSIS-DAP)",
  "0483": "ST-LINK",
  "2e8a": "Raspberry Pi (Debug Probe, Pico, RP2040 BOOTSEL)",
  "1915": "Nordic Semiconductor",
};

const TOOLS = ["nrfjprog", "tockloader", "openocd", "probe-rs", "picotool", "JLinkExe"];

type UsbDevice = { vendor: string; product: string; serial: string | undefined; name: string | undefined };

export async function findOnPath(tool: string, path: string): Promise<string | undefined> {
  if (isAbsolute(tool) || tool.includes("/")) return (await executable(tool)) ? tool : undefined;
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, tool);
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

const executable = (file: string) =>
  access(file, constants.X_OK).then(
    () => true,
    () => false,
  );

async function usbDevices(dir: string): Promise<UsbDevice[]> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  const read = (d: string, f: string) =>
    readFile(join(dir, d, f), "utf8").then(
      (t) => t.trim(),
      () => undefined,
    );
  const out: UsbDevice[] = [];
  for (const d of entries) {
    const vendor = await read(d, "idVendor");
    if (!vendor || !(vendor in USB_VENDORS)) continue;
    out.push({ vendor, product: (await read(d, "idProduct")) ?? "?", serial: await read(d, "serial"), name: await read(d, "product") });
  }
  return out;
}

async function canOpen(device: string, baudRate: number, timeoutMs: number): Promise<string | undefined> {
  const port = new SerialPort({ path: device, baudRate, autoOpen: false });
  const error = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`opening took longer than ${timeoutMs} ms`), timeoutMs);
    port.open((err) => {
      clearTimeout(timer);
      resolve(err?.message);
    });
  });
  if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
  return error;
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const byIdDir = options.byIdDir ?? "/dev/serial/by-id";
  const usbDir = options.usbDir ?? "/sys/bus/usb/devices";
  const timeoutMs = options.timeoutMs ?? 10_000;
  const lines: string[] = [];
  let problems = 0;
  const ok = (s: string) => lines.push(`  ok       ${s}`);
  const bad = (s: string) => {
    problems++;
    lines.push(`  MISSING  ${s}`);
  };
  const info = (s: string) => lines.push(`           ${s}`);

  lines.push(`Serial devices (looked in ${byIdDir} and asked the OS through serialport's list):`);
  const byId = await readdir(byIdDir).catch(() => [] as string[]);
  for (const name of byId) ok(`${join(byIdDir, name)} -> ${await realpath(join(byIdDir, name)).catch(() => "?")}`);
  const ports = await SerialPort.list().catch(() => []);
  const usbPorts = ports.filter((p) => p.vendorId);
  for (const p of usbPorts) ok(`${p.path} (${p.manufacturer ?? "?"}, USB ${p.vendorId}:${p.productId}, serial ${p.serialNumber ?? "?"})`);
  if (byId.length === 0 && usbPorts.length === 0)
    info(
      `none found: no ${byIdDir} entries and no USB serial ports (${ports.length} non-USB port(s) such as ${ports[0]?.path ?? "none"}). ` +
        "Plug a board in; check that this user is in the dialout group.",
    );

  lines.push(
    "",
    `Debug probes and boards on USB (looked in ${usbDir} for ${Object.entries(USB_VENDORS)
      .map(([v, n]) => `${n} ${v}`)
      .join(", ")}):`,
  );
  const usb = await usbDevices(usbDir);
  for (const d of usb) ok(`${USB_VENDORS[d.vendor]} ${d.vendor}:${d.product} "${d.name ?? ""}" serial ${d.serial ?? "?"}`);
  if (usb.length === 0) info("none found.");

  lines.push("", "Flash tools (looked on PATH):");
  const found = new Map<string, string>();
  for (const tool of TOOLS) {
    const at = await findOnPath(tool, options.path);
    if (!at) {
      info(`${tool}: not found`);
      continue;
    }
    found.set(tool, at);
    const version = await execa(at, tool === "JLinkExe" ? ["-CommandFile", "/dev/null"] : ["--version"], {
      reject: false,
      timeout: timeoutMs,
      forceKillAfterDelay: 2_000,
      stdin: "ignore",
      all: true,
    });
    ok(`${tool}: ${at} (${(version.all ?? "").split(/\r?\n/).find((l) => l.trim()) ?? `exit ${version.exitCode}`})`);
  }

  lines.push("", `Lab config (${options.configPath}):`);
  let config: LoadedLabConfig | undefined;
  if (!existsSync(options.configPath)) {
    bad(`no lab config at ${options.configPath}: write one listing each board (see docs/runner.md), or pass --config`);
  } else {
    try {
      config = await loadLabConfig(options.configPath);
      ok(`${config.path}: valid, ${config.boards.length} board(s)`);
    } catch (err) {
      bad((err as Error).message);
    }
  }
  for (const b of config?.boards ?? []) {
    lines.push(
      "",
      `Board ${b.name} (${b.type}, ${b.adapter}${b.group ? `, group ${b.group}` : ""}${b.tags.length ? `, tags ${b.tags.join(",")}` : ""}):`,
    );
    if (b.adapter === "emulated") {
      ok("emulated: needs no hardware");
      continue;
    }
    problems += await checkBoard(b, { found, usb, path: options.path, timeoutMs, ok, bad, info });
  }

  lines.push("", problems === 0 ? "No problems found." : `${problems} problem(s) found.`);
  return { text: `${lines.join("\n")}\n`, problems };
}

async function checkBoard(
  b: HardwareBoardConfig,
  ctx: {
    found: Map<string, string>;
    usb: UsbDevice[];
    path: string;
    timeoutMs: number;
    ok: (s: string) => void;
    bad: (s: string) => void;
    info: (s: string) => void;
  },
): Promise<number> {
  let problems = 0;
  const bad = (s: string) => {
    problems++;
    ctx.bad(s);
  };
  const device = b.serial.device;
  if (!existsSync(device)) bad(`serial device ${device} does not exist (is the board plugged in? is the by-id name right?)`);
  else {
    const err = await canOpen(device, b.serial.baud, ctx.timeoutMs);
    if (err) bad(`serial device ${device} cannot be opened: ${err}`);
    else ctx.ok(`serial device ${device} -> ${await realpath(device).catch(() => "?")} opens at ${b.serial.baud} baud`);
    if (!device.startsWith("/dev/serial/by-id/"))
      ctx.info(`${device} is not a /dev/serial/by-id path; ttyACM numbers change with plug order`);
  }
  if (b.probe.serial) {
    const wanted = b.probe.serial.split(":").pop()!;
    const seen = ctx.usb.find(
      (d) => d.serial !== undefined && (d.serial === wanted || d.serial.replace(/^0+/, "") === wanted.replace(/^0+/, "")),
    );
    if (seen) ctx.ok(`probe ${b.probe.kind} ${b.probe.serial} is connected (${USB_VENDORS[seen.vendor]})`);
    else if (ctx.usb.length === 0) bad(`probe ${b.probe.kind} ${b.probe.serial}: no debug probe is connected at all`);
    else bad(`probe ${b.probe.kind} ${b.probe.serial} is not connected (connected: ${ctx.usb.map((d) => d.serial ?? "?").join(", ")})`);
  }
  const tool = b.flash.tool ?? DEFAULT_TOOL[b.flash.method];
  if (tool) {
    const at = await findOnPath(tool, ctx.path);
    if (at) ctx.ok(`flash method ${b.flash.method}: ${at}`);
    else bad(`flash method ${b.flash.method} needs ${tool}, which is not installed (not on PATH)`);
  }
  if (b.flash.method === "uf2-copy" && b.flash.mount)
    ctx.info(
      `boot drive ${b.flash.mount} ${(await isBootDrive(b.flash.mount)) ? "is mounted now" : "is not mounted now (it appears in BOOTSEL mode)"}`,
    );
  const commands: [string, string[] | undefined][] = [
    ["reset", safe(() => controlArgv(b, "reset"))],
    ["halt", safe(() => controlArgv(b, "halt"))],
    ["power on", b.power ? safe(() => templateArgv(b.power!.on)) : undefined],
    ["power off", b.power ? safe(() => templateArgv(b.power!.off)) : undefined],
    ["flash command", b.flash.command ? safe(() => templateArgv(b.flash.command!)) : undefined],
  ];
  for (const [what, argv] of commands) {
    if (!argv?.[0]) continue;
    const at = await findOnPath(argv[0], ctx.path);
    if (at) ctx.ok(`${what}: ${argv[0]} found`);
    else bad(`${what} runs ${argv[0]}, which is not installed (not on PATH)`);
  }
  if (!safe(() => controlArgv(b, "halt")) && !b.power)
    ctx.info("no halt or power command: a halted board keeps running, its console is only muted");
  return problems;
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    // An unparsable template: the config check already reported it.
    return undefined;
  }
}
