/**
 * The lab configuration file (YAML): which boards this runner drives and how. Validated with messages that say
 * which entry is wrong and how to fix it.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { BOARD_DEFAULTS, FLASH_METHODS, NEEDS_PROBE_SERIAL, PROBE_KINDS, controlArgv, layoutOf } from "./adapters/flash-methods.ts";
import { PLACEHOLDERS, placeholdersOf } from "./adapters/tool-runner.ts";

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "use 1-100 letters, digits, '.', '_' or '-'");

/** A flash address: a number (YAML reads 0x40000 as one) or a hex string. */
const Address = z.union([
  z.number().int().min(0).max(0xffffffff),
  z
    .string()
    .regex(/^0x[0-9a-fA-F]{1,8}$/, "write an address as a number or a hex string like 0x40000")
    .transform((s) => Number.parseInt(s, 16)),
]);

/** A command: one line split like a shell splits words (no shell runs it), or an argv list. */
const Command = z.union([z.string().min(1, "the command is empty"), z.array(z.string()).min(1, "the command is empty")]);

const Common = {
  name: Name.describe("Stable board name, unique on this runner"),
  type: Name.describe("Board type, e.g. nrf52840dk"),
  tags: z.array(z.string().min(1)).default([]),
  group: Name.optional().describe("Shared physical environment, e.g. the RF enclosure; jobs may require one group"),
};

export const EmulatedBoardConfig = z.object({ ...Common, adapter: z.literal("emulated") }).strict();
export type EmulatedBoardConfig = z.infer<typeof EmulatedBoardConfig>;

/** A real board: a serial console, a probe that flashes it, and optional reset, halt and power commands. */
export const HardwareBoardConfig = z
  .object({
    ...Common,
    adapter: z.literal("hardware"),
    serial: z
      .object({
        /** Use the stable /dev/serial/by-id/... path: /dev/ttyACM0 changes with plug order. */
        device: z.string().min(1),
        baud: z.number().int().positive().default(115200),
        /** Pause between written bytes; some consoles drop input typed faster than they read it. */
        interByteDelayMs: z.number().int().min(0).max(1000).default(0),
        /** Before each job the console must stay silent this long after the board is halted... */
        quietMs: z.number().int().min(10).max(10_000).default(200),
        /** ...within this bound, or the job does not start on this board. */
        drainMaxMs: z.number().int().min(100).max(60_000).default(5_000),
      })
      .strict(),
    probe: z
      .object({
        kind: z.enum(PROBE_KINDS),
        /** The probe's USB serial number (J-Link SNR, CMSIS-DAP/ST-Link serial, or VID:PID:serial for probe-rs). */
        serial: z.string().min(1).optional(),
      })
      .strict()
      .default({ kind: "none" }),
    flash: z
      .object({
        method: z.enum(FLASH_METHODS, { message: `flash.method must be one of ${FLASH_METHODS.join(", ")}` }),
        /** The tool's executable when it is not on PATH under its usual name. */
        tool: z.string().min(1).optional(),
        /** Bound on each tool run; the lease's flash step bounds the whole flash too. */
        timeoutMs: z.number().int().positive().max(3_600_000).default(120_000),
        kernelAddress: Address.optional(),
        appsAddress: Address.optional(),
        /** Skip the flash when the board already holds exactly these images and booted from them last time. */
        skipIdentical: z.boolean().default(true),
        board: z.string().min(1).optional().describe("tockloader --board (default from the board type)"),
        family: z.string().min(1).optional().describe("nrfjprog -f (default NRF52)"),
        chip: z.string().min(1).optional().describe("probe-rs --chip (default from the board type)"),
        openocd: z
          .object({ interface: z.string().min(1).optional(), target: z.string().min(1).optional() })
          .strict()
          .optional(),
        mount: z.string().min(1).optional().describe("uf2-copy: where the boot drive mounts, e.g. /media/pi/RPI-RP2"),
        familyId: Address.optional().describe("UF2 family id (default RP2040)"),
        bootsel: Command.optional().describe("puts the board in its USB bootloader (picotool, uf2-copy)"),
        command: Command.optional().describe("method 'command': run once per region with {image} {address} {kind}"),
        erase: Command.optional().describe("method 'command': run once before writing"),
      })
      .strict(),
    reset: Command.optional(),
    halt: Command.optional(),
    power: z
      .object({ on: Command, off: Command, cycleMs: z.number().int().min(0).max(60_000).default(1_000) })
      .strict()
      .optional(),
    /** Bound on each reset, halt and power command. */
    commandTimeoutMs: z.number().int().positive().max(600_000).default(30_000),
  })
  .strict();
export type HardwareBoardConfig = z.infer<typeof HardwareBoardConfig>;

export const BoardConfig = z.discriminatedUnion("adapter", [EmulatedBoardConfig, HardwareBoardConfig], {
  error: (issue) =>
    issue.code === "invalid_union"
      ? "adapter must be 'emulated' or 'hardware' (a real board behind a serial port and a flash tool)"
      : undefined,
});
export type BoardConfig = z.infer<typeof BoardConfig>;

/** Checks what the schema cannot: method-specific settings, command placeholders, and what two boards share. */
function checkHardwareBoard(b: HardwareBoardConfig, at: (string | number)[], ctx: z.RefinementCtx) {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path: [...at, ...path], message });
  const method = b.flash.method;
  if (NEEDS_PROBE_SERIAL.has(method) && !b.probe.serial)
    issue(["probe", "serial"], `flash method ${method} needs the probe's serial number, so it never flashes another board's probe`);
  if (NEEDS_PROBE_SERIAL.has(method) && method !== "picotool" && b.probe.kind === "none")
    issue(
      ["probe", "kind"],
      `flash method ${method} needs a debug probe: set probe.kind (${PROBE_KINDS.filter((k) => k !== "none").join(", ")})`,
    );
  if (method === "command" && !b.flash.command)
    issue(["flash", "command"], "flash method 'command' needs flash.command, e.g. \"mytool --addr {address} {image}\"");
  if (method === "command" && b.flash.command && !placeholdersOf(b.flash.command).includes("image"))
    issue(["flash", "command"], "flash.command must use {image} (the file to write)");
  if (method === "uf2-copy" && !b.flash.mount)
    issue(["flash", "mount"], "flash method uf2-copy needs flash.mount (where the boot drive appears)");
  if (!layoutOf(b))
    issue(
      ["flash"],
      `board type ${b.type} has no known flash layout: set flash.kernelAddress and flash.appsAddress (known: ${Object.keys(BOARD_DEFAULTS).join(", ")})`,
    );
  const known = Object.keys(PLACEHOLDERS);
  const imageOnly = ["image", "address", "kind"];
  const templates: [(string | number)[], unknown, boolean][] = [
    [["flash", "command"], b.flash.command, true],
    [["flash", "erase"], b.flash.erase, false],
    [["flash", "bootsel"], b.flash.bootsel, false],
    [["reset"], b.reset, false],
    [["halt"], b.halt, false],
    [["power", "on"], b.power?.on, false],
    [["power", "off"], b.power?.off, false],
  ];
  for (const [path, template, perImage] of templates) {
    if (template === undefined) continue;
    let used: string[];
    try {
      used = placeholdersOf(template as string | string[]);
    } catch (err) {
      issue(path, (err as Error).message);
      continue;
    }
    for (const p of used) {
      if (!known.includes(p)) issue(path, `unknown placeholder {${p}}; use ${known.map((k) => `{${k}}`).join(" ")}`);
      else if (!perImage && imageOnly.includes(p)) issue(path, `{${p}} is only available in flash.command`);
      else if (p === "serial" && !b.probe.serial) issue(path, "{serial} is used but probe.serial is not set");
    }
  }
  if (!b.reset && !controlArgvSafe(b, "reset") && !b.power)
    issue(["reset"], `flash method ${method} cannot reset a board: set reset: (a command) or power: { on, off }`);
}

function controlArgvSafe(b: HardwareBoardConfig, action: "reset" | "halt") {
  try {
    return controlArgv(b, action);
  } catch {
    return undefined;
  }
}

export const LabConfig = z
  .object({
    name: Name.describe("Runner name, used when registering"),
    /** Where `hil-runner register` stored the runner token; relative to the config file. */
    credentials: z.string().default("runner-credentials.json"),
    /** Firmware cache directory, relative to the config file. */
    cacheDir: z.string().default("firmware-cache"),
    boards: z.array(BoardConfig).min(1, "list at least one board under boards:"),
    /** Scratch space for flash files (HEX, UF2), relative to the config file. */
    workDir: z.string().default("work"),
    /** Emulated boards only: at most this many times faster than wall time (1 = real time); unlimited when unset. */
    emulation: z
      .object({ speed: z.number().positive().max(1_000_000) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    const devices = new Map<string, string>();
    const probes = new Map<string, string>();
    for (const [i, b] of cfg.boards.entries()) {
      if (seen.has(b.name)) ctx.addIssue({ code: "custom", path: ["boards", i, "name"], message: `board name ${b.name} is used twice` });
      seen.add(b.name);
      if (b.adapter !== "hardware") continue;
      checkHardwareBoard(b, ["boards", i], ctx);
      // Two boards on one console or one probe would read and flash each other: refuse it outright.
      const device = devices.get(b.serial.device);
      if (device)
        ctx.addIssue({
          code: "custom",
          path: ["boards", i, "serial", "device"],
          message: `${b.serial.device} is already the console of ${device}`,
        });
      devices.set(b.serial.device, b.name);
      if (b.probe.serial) {
        const other = probes.get(b.probe.serial);
        if (other)
          ctx.addIssue({
            code: "custom",
            path: ["boards", i, "probe", "serial"],
            message: `probe ${b.probe.serial} is already the probe of ${other}`,
          });
        probes.set(b.probe.serial, b.name);
      }
    }
    if (cfg.emulation?.speed !== undefined && cfg.emulation.speed !== 1 && cfg.boards.some((b) => b.adapter === "hardware"))
      ctx.addIssue({
        code: "custom",
        path: ["emulation", "speed"],
        message: "a lab with hardware boards runs in wall time: remove emulation.speed or set it to 1",
      });
  });
export type LabConfig = z.infer<typeof LabConfig>;

export type LoadedLabConfig = LabConfig & { credentialsPath: string; cachePath: string; workPath: string; path: string };

export async function loadLabConfig(path: string): Promise<LoadedLabConfig> {
  const full = resolve(path);
  let text: string;
  try {
    text = await readFile(full, "utf8");
  } catch (err) {
    throw new Error(`cannot read lab config ${full}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new Error(`lab config ${full} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = LabConfig.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(top level)"}: ${i.message}`);
    throw new Error(`lab config ${full} is invalid:\n${lines.join("\n")}`);
  }
  const base = dirname(full);
  return {
    ...result.data,
    path: full,
    credentialsPath: resolve(base, result.data.credentials),
    cachePath: resolve(base, result.data.cacheDir),
    workPath: resolve(base, result.data.workDir),
  };
}
