/**
 * How each flash method writes a board and controls it: the argv of every step, built from lab.yaml and the board
 * type's defaults. Each step names the probe explicitly (serial number) — flashing "the first probe found" is how
 * Tock's nightly once wrote the wrong board.
 */
import { access, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { HardwareBoardConfig } from "../lab-config.ts";
import type { FlashLayout, FlashRegion } from "./firmware-files.ts";
import { toIntelHex, toUf2 } from "./firmware-files.ts";
import type { CommandTemplate, Placeholder } from "./tool-runner.ts";
import { renderCommand } from "./tool-runner.ts";

export const FLASH_METHODS = ["tockloader", "openocd", "nrfjprog", "probe-rs", "picotool", "uf2-copy", "command"] as const;
export type FlashMethod = (typeof FLASH_METHODS)[number];

export const PROBE_KINDS = ["jlink", "cmsis-dap", "stlink", "picoprobe", "none"] as const;

/** What a board type implies; every field can be overridden under `flash:` in lab.yaml. */
type BoardDefaults = FlashLayout & {
  tockloaderBoard?: string;
  nrfjprogFamily?: string;
  probeRsChip?: string;
  openocdTarget?: string;
  uf2FamilyId?: number;
};

/** Flash layouts from each board's linker script (boards/<board>/layout.ld in tock/tock). */
export const BOARD_DEFAULTS: Record<string, BoardDefaults> = {
  nrf52840dk: {
    kernelAddress: 0x0,
    kernelSize: 0x40000,
    appsAddress: 0x40000,
    appsSize: 0xc0000,
    tockloaderBoard: "nrf52dk",
    nrfjprogFamily: "NRF52",
    probeRsChip: "nRF52840_xxAA",
    openocdTarget: "target/nrf52.cfg",
  },
  microbit_v2: {
    kernelAddress: 0x0,
    kernelSize: 0x40000,
    appsAddress: 0x40000,
    appsSize: 0x40000,
    tockloaderBoard: "microbit_v2",
    nrfjprogFamily: "NRF52",
    probeRsChip: "nRF52833_xxAA",
    openocdTarget: "target/nrf52.cfg",
  },
  raspberry_pi_pico_w: {
    kernelAddress: 0x10000000,
    kernelSize: 0x90000,
    appsAddress: 0x10090000,
    tockloaderBoard: "raspberry_pi_pico",
    probeRsChip: "RP2040",
    openocdTarget: "target/rp2040.cfg",
    uf2FamilyId: 0xe48bff56,
  },
  raspberry_pi_pico: {
    kernelAddress: 0x10000000,
    kernelSize: 0x40000,
    appsAddress: 0x10040000,
    tockloaderBoard: "raspberry_pi_pico",
    probeRsChip: "RP2040",
    openocdTarget: "target/rp2040.cfg",
    uf2FamilyId: 0xe48bff56,
  },
  nucleo_f429zi: {
    kernelAddress: 0x08000000,
    kernelSize: 0x40000,
    appsAddress: 0x08040000,
    probeRsChip: "STM32F429ZITx",
    openocdTarget: "target/stm32f4x.cfg",
  },
};

const OPENOCD_INTERFACE: Record<string, string> = {
  jlink: "interface/jlink.cfg",
  "cmsis-dap": "interface/cmsis-dap.cfg",
  picoprobe: "interface/cmsis-dap.cfg",
  stlink: "interface/stlink.cfg",
};

/** Default executable of each method (looked up on PATH unless `flash.tool` names a path). */
export const DEFAULT_TOOL: Record<FlashMethod, string | undefined> = {
  tockloader: "tockloader",
  openocd: "openocd",
  nrfjprog: "nrfjprog",
  "probe-rs": "probe-rs",
  picotool: "picotool",
  "uf2-copy": undefined,
  command: undefined,
};

/** Methods that talk to a debug probe (or a USB device) and so must be told which one, by serial number. */
export const NEEDS_PROBE_SERIAL: ReadonlySet<FlashMethod> = new Set(["tockloader", "openocd", "nrfjprog", "probe-rs", "picotool"]);

export function layoutOf(cfg: HardwareBoardConfig): FlashLayout | undefined {
  const d = BOARD_DEFAULTS[cfg.type];
  const kernelAddress = cfg.flash.kernelAddress ?? d?.kernelAddress;
  const appsAddress = cfg.flash.appsAddress ?? d?.appsAddress;
  if (kernelAddress === undefined || appsAddress === undefined) return undefined;
  return { kernelAddress, appsAddress, kernelSize: d?.kernelSize, appsSize: d?.appsSize };
}

export const hex = (n: number) => `0x${n.toString(16)}`;

/** Values for command-template placeholders that do not depend on the image. */
export function boardVars(cfg: HardwareBoardConfig): Partial<Record<Placeholder, string>> {
  return {
    board: cfg.name,
    type: cfg.type,
    device: cfg.serial.device,
    baud: String(cfg.serial.baud),
    probe: cfg.probe.kind,
    ...(cfg.probe.serial !== undefined ? { serial: cfg.probe.serial } : {}),
  };
}

const toolOf = (cfg: HardwareBoardConfig) => cfg.flash.tool ?? DEFAULT_TOOL[cfg.flash.method] ?? cfg.flash.method;

function openocdPrefix(cfg: HardwareBoardConfig): string[] {
  const iface = cfg.flash.openocd?.interface ?? OPENOCD_INTERFACE[cfg.probe.kind] ?? "interface/cmsis-dap.cfg";
  const target = cfg.flash.openocd?.target ?? BOARD_DEFAULTS[cfg.type]?.openocdTarget ?? "target/nrf52.cfg";
  return [
    toolOf(cfg),
    "-f",
    iface,
    // The probe's serial is set before the target config so openocd never picks another probe.
    "-c",
    `adapter serial ${cfg.probe.serial ?? ""}`,
    ...(cfg.probe.kind === "stlink" ? [] : ["-c", "transport select swd"]),
    "-f",
    target,
  ];
}

function tockloaderChannel(cfg: HardwareBoardConfig): string[] {
  const board = cfg.flash.board ?? BOARD_DEFAULTS[cfg.type]?.tockloaderBoard ?? cfg.type;
  const serial = cfg.probe.serial ?? "";
  return cfg.probe.kind === "jlink"
    ? ["--board", board, "--jlink", "--jlink-serial-number", serial]
    : ["--board", board, "--openocd", "--openocd-serial-number", serial];
}

const probeRsArgs = (cfg: HardwareBoardConfig) => [
  "--chip",
  cfg.flash.chip ?? BOARD_DEFAULTS[cfg.type]?.probeRsChip ?? cfg.type,
  "--probe",
  cfg.probe.serial ?? "",
];

const nrfjprogArgs = (cfg: HardwareBoardConfig) => [
  "-f",
  cfg.flash.family ?? BOARD_DEFAULTS[cfg.type]?.nrfjprogFamily ?? "NRF52",
  "--snr",
  cfg.probe.serial ?? "",
];

/** One step of a flash: a subprocess, or a built-in action (copying to a UF2 boot drive). */
export type FlashStep =
  | { kind: "tool"; argv: string[]; what: string }
  | { kind: "uf2-copy"; file: string; mount: string; what: string }
  | { kind: "wait-mount"; mount: string; what: string };

/** Writes the files the method needs into `dir` and returns the steps that flash them. */
export async function flashSteps(cfg: HardwareBoardConfig, regions: FlashRegion[], dir: string): Promise<FlashStep[]> {
  const files = new Map<FlashRegion, string>();
  for (const r of regions) {
    const file = join(dir, `${r.kind}.bin`);
    await writeFile(file, r.bytes);
    files.set(r, file);
  }
  const names = (r: FlashRegion) => r.images.map((i) => i.name).join(", ");
  const bootsel = (): FlashStep[] =>
    cfg.flash.bootsel ? [{ kind: "tool", argv: renderCommand(cfg.flash.bootsel, boardVars(cfg)), what: "entering BOOTSEL mode" }] : [];
  switch (cfg.flash.method) {
    case "nrfjprog": {
      // nrfjprog only programs Intel HEX; one file with both regions, chip erased first, read back after.
      const file = join(dir, "firmware.hex");
      await writeFile(file, toIntelHex(regions));
      return [
        {
          kind: "tool",
          argv: [toolOf(cfg), ...nrfjprogArgs(cfg), "--program", file, "--chiperase", "--verify"],
          what: `writing ${regions.map(names).join(", ")}`,
        },
      ];
    }
    case "openocd": {
      const cmds = ["init", "reset halt"];
      for (const r of regions) {
        cmds.push(`flash write_image erase ${files.get(r)!} ${hex(r.address)} bin`, `verify_image ${files.get(r)!} ${hex(r.address)} bin`);
      }
      cmds.push("reset halt", "shutdown");
      return [
        {
          kind: "tool",
          argv: [...openocdPrefix(cfg), ...cmds.flatMap((c) => ["-c", c])],
          what: `writing ${regions.map(names).join(", ")}`,
        },
      ];
    }
    case "probe-rs":
      return regions.map((r) => ({
        kind: "tool",
        argv: [
          toolOf(cfg),
          "download",
          ...probeRsArgs(cfg),
          "--binary-format",
          "bin",
          "--base-address",
          hex(r.address),
          "--verify",
          files.get(r)!,
        ],
        what: `writing ${names(r)}`,
      }));
    case "tockloader": {
      const steps: FlashStep[] = [];
      const kernel = regions.find((r) => r.kind === "kernel");
      if (kernel)
        steps.push({
          kind: "tool",
          argv: [toolOf(cfg), "flash", ...tockloaderChannel(cfg), "--address", hex(kernel.address), files.get(kernel)!],
          what: `writing ${names(kernel)}`,
        });
      // tockloader installs apps from their own files (it lays them out itself), after erasing earlier apps.
      const apps = regions.find((r) => r.kind === "apps");
      if (!apps) {
        steps.push({ kind: "tool", argv: [toolOf(cfg), "erase-apps", ...tockloaderChannel(cfg)], what: "erasing apps" });
        return steps;
      }
      const appFiles: string[] = [];
      for (const [i, img] of apps.images.entries()) {
        const file = join(dir, `app-${i}-${img.name.replace(/[^A-Za-z0-9._-]/g, "_")}.tbf`);
        const offset = img.address - apps.address;
        await writeFile(file, apps.bytes.subarray(offset, offset + img.size));
        appFiles.push(file);
      }
      steps.push({
        kind: "tool",
        argv: [toolOf(cfg), "install", ...tockloaderChannel(cfg), "--erase", ...appFiles],
        what: `installing ${names(apps)}`,
      });
      return steps;
    }
    case "picotool": {
      const file = join(dir, "firmware.uf2");
      await writeFile(file, toUf2(regions, cfg.flash.familyId ?? BOARD_DEFAULTS[cfg.type]?.uf2FamilyId ?? 0xe48bff56));
      return [
        ...bootsel(),
        {
          kind: "tool",
          argv: [toolOf(cfg), "load", "-v", file, "--ser", cfg.probe.serial ?? ""],
          what: `writing ${regions.map(names).join(", ")}`,
        },
      ];
    }
    case "uf2-copy": {
      const file = join(dir, "firmware.uf2");
      await writeFile(file, toUf2(regions, cfg.flash.familyId ?? BOARD_DEFAULTS[cfg.type]?.uf2FamilyId ?? 0xe48bff56));
      const mount = cfg.flash.mount ?? "";
      return [
        ...bootsel(),
        { kind: "wait-mount", mount, what: `waiting for the boot drive ${mount}` },
        { kind: "uf2-copy", file, mount, what: `copying ${regions.map(names).join(", ")} to ${mount}` },
      ];
    }
    case "command": {
      const steps: FlashStep[] = [];
      if (cfg.flash.erase) steps.push({ kind: "tool", argv: renderCommand(cfg.flash.erase, boardVars(cfg)), what: "erasing" });
      for (const r of regions) {
        steps.push({
          kind: "tool",
          argv: renderCommand(cfg.flash.command!, { ...boardVars(cfg), image: files.get(r)!, address: hex(r.address), kind: r.kind }),
          what: `writing ${names(r)}`,
        });
      }
      return steps;
    }
  }
}

/** Whether the method leaves the core halted after writing (otherwise the adapter halts it). */
export const LEAVES_HALTED: ReadonlySet<FlashMethod> = new Set(["nrfjprog", "openocd", "picotool"]);

/** Argv of a board control (reset/halt), from lab.yaml or the method's default; undefined when there is none. */
export function controlArgv(cfg: HardwareBoardConfig, action: "reset" | "halt"): string[] | undefined {
  const configured: CommandTemplate | undefined = cfg[action];
  if (configured) return renderCommand(configured, boardVars(cfg));
  const tool = toolOf(cfg);
  switch (cfg.flash.method) {
    case "nrfjprog":
      return [tool, ...nrfjprogArgs(cfg), action === "reset" ? "--reset" : "--halt"];
    case "openocd":
      return [...openocdPrefix(cfg), "-c", "init", "-c", action === "reset" ? "reset run" : "halt", "-c", "shutdown"];
    case "probe-rs":
      return action === "reset" ? [tool, "reset", ...probeRsArgs(cfg)] : undefined;
    case "picotool":
      return action === "reset" ? [tool, "reboot", "--ser", cfg.probe.serial ?? ""] : undefined;
    default:
      return undefined;
  }
}

/** Whether a mount point looks like a UF2 boot drive (it has INFO_UF2.TXT). */
export async function isBootDrive(mount: string): Promise<boolean> {
  try {
    await access(join(mount, "INFO_UF2.TXT"));
    return (await stat(mount)).isDirectory();
  } catch {
    return false;
  }
}

/** Reads the first line of INFO_UF2.TXT (board id), for doctor. */
export async function bootDriveInfo(mount: string): Promise<string | undefined> {
  return readFile(join(mount, "INFO_UF2.TXT"), "utf8")
    .then((t) => t.split(/\r?\n/)[0])
    .catch(() => undefined);
}
