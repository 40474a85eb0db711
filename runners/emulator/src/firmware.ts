/**
 * Builds the images the emulator accepts, standing in for `make` in the kernel and libtock-c trees: emulated
 * kernel images for known kernel names and TBF apps for anything else. Bodies are deterministic pseudo-random
 * bytes so images are byte-stable across builds (same name and options => same sha256).
 */
import { BOARD_ARCH, writeTar } from "./tab.ts";
import type { FirmwareKind } from "@tock-hil/board";
import type { KernelFlavour } from "./kernel-image.ts";
import { encodeKernelImage } from "./kernel-image.ts";
import { fillerBytes, packTbfApp, sha256Hex } from "./image-parts.ts";
import { NETWORK_DEFAULT_FIRMWARE, NETWORK_KERNELS, buildNetworkFirmware } from "./boards/firmware.ts";

/** Kernel builds the emulator knows: Tock board directories and what they wire up. */
export const KERNELS: Readonly<Record<string, { board: string; flavour: KernelFlavour; channel?: number }>> = {
  nrf52840dk: { board: "nrf52840dk", flavour: "mac" },
  "nrf52840dk-thread-tutorial": { board: "nrf52840dk", flavour: "raw" },
  /** nrf52840dk with the 15.4 channel changed to 11 in main.rs: for "hears nothing on another channel" tests. */
  "nrf52840dk-ch11": { board: "nrf52840dk", flavour: "mac", channel: 11 },
  /** Nordic's "nRF Sniffer for 802.15.4" firmware (not Tock): prints every frame it hears, never transmits. */
  nrf802154_sniffer: { board: "nrf52840dk", flavour: "sniffer" },
  /** The nightly router: OpenThread CLI FTD firmware (not Tock), flashed like a kernel. */
  "ot-central-controller": { board: "nrf52840dk", flavour: "ot-cli-ftd" },
};

/** Package name of the app the deliberately broken images (below) are built from. */
export const BROKEN_IMAGE_APP = "c_hello";

/**
 * Deliberately broken images for the flashing suite, by name: what is wrong with each is the point.
 * - flash_bad_header: c_hello TBF with one header byte flipped after the checksum was computed (checksum mismatch)
 * - flash_truncated: c_hello TBF cut to its first 1000 bytes (total_size says more)
 * - flash_other_board: a kernel built for raspberry_pi_pico_w (wrong board)
 * - flash_disabled: a valid c_hello TBF with the enable flag clear (loads, never runs)
 */
export const BROKEN_FIRMWARE = ["flash_bad_header", "flash_truncated", "flash_other_board", "flash_disabled"] as const;

/** Every name a suite manifest may ask for; `build-firmware` builds these by default. */
export const DEFAULT_FIRMWARE = [
  "nrf52840dk",
  "nrf52840dk-thread-tutorial",
  "nrf52840dk-ch11",
  "ot-central-controller",
  "radio_tx",
  "radio_rx",
  "radio_tx_raw",
  "nrf802154_sniffer",
  "c_hello",
  "openthread_hello",
  "openthread_udp_rx",
  "openthread_udp_tx",
  ...BROKEN_FIRMWARE,
  // Ethernet, WiFi and IPC boards and apps (issue 4): boards/firmware.ts.
  ...NETWORK_DEFAULT_FIRMWARE,
] as const;
export const DEFAULT_KERNEL_VERSION = "2.2.0";
/** nrf52840dk's main.rs uses channel 26. */
export const DEFAULT_CHANNEL = 26;

export type BuildOptions = {
  /** TBF enable flag (default true). */
  enabled?: boolean;
  /** Flip one header byte after the checksum is computed (exercises invalid_image handling). */
  corruptHeader?: boolean;
  /** Kernel only: the 15.4 channel compiled in (default 26). */
  channel?: number;
  /** Kernel only: version string (default 2.2.0). */
  kernelVersion?: string;
};

export type BuiltFirmware = {
  name: string;
  kind: FirmwareKind;
  /** File name as `build-firmware` writes it. */
  file: string;
  boardType: string;
  sha256: string;
  bytes: Uint8Array;
};

export { sha256Hex };

export function isKernelName(name: string): boolean {
  return Object.hasOwn(KERNELS, name) || Object.hasOwn(NETWORK_KERNELS, name);
}

export function buildFirmware(name: string, options: BuildOptions = {}): BuiltFirmware {
  const network = buildNetworkFirmware(name, options);
  if (network) return network;
  switch (name) {
    case "flash_bad_header":
      return rename(buildFirmware(BROKEN_IMAGE_APP, { ...options, corruptHeader: true }), name);
    case "flash_truncated": {
      const full = buildFirmware(BROKEN_IMAGE_APP, options);
      return rename({ ...full, bytes: full.bytes.slice(0, 1000) }, name);
    }
    case "flash_disabled":
      return rename(buildFirmware(BROKEN_IMAGE_APP, { ...options, enabled: false }), name);
    case "flash_other_board": {
      const bytes = encodeKernelImage(
        { board: "raspberry_pi_pico_w", flavour: "mac", channel: DEFAULT_CHANNEL, kernelVersion: DEFAULT_KERNEL_VERSION },
        fillerBytes(`kernel:${name}`, 16 * 1024),
      );
      return { name, kind: "kernel", file: `${name}.bin`, boardType: "nrf52840dk", sha256: sha256Hex(bytes), bytes };
    }
  }
  const kernel = KERNELS[name];
  if (kernel) {
    const bytes = encodeKernelImage(
      {
        board: kernel.board,
        flavour: kernel.flavour,
        channel: options.channel ?? kernel.channel ?? DEFAULT_CHANNEL,
        kernelVersion: options.kernelVersion ?? DEFAULT_KERNEL_VERSION,
      },
      fillerBytes(`kernel:${name}`, 24 * 1024),
    );
    if (options.corruptHeader) bytes[20] = (bytes[20] ?? 0) ^ 0x01;
    return { name, kind: "kernel", file: `${name}.bin`, boardType: kernel.board, sha256: sha256Hex(bytes), bytes };
  }
  if (name.length === 0 || new TextEncoder().encode(name).length > 255) throw new RangeError(`bad app name ${JSON.stringify(name)}`);
  const bytes = packTbfApp(
    name,
    (binaryEndOffset) => [
      { type: "program", initFnOffset: 0x41, protectedTrailerSize: 0, minimumRamSize: 8192, binaryEndOffset, appVersion: 0 },
      { type: "packageName", name },
      { type: "kernelVersion", major: 2, minor: 2 },
    ],
    options,
  );
  return { name, kind: "tbf", file: `${name}.tbf`, boardType: "nrf52840dk", sha256: sha256Hex(bytes), bytes };
}

/** The same bytes under another logical (and file) name. */
function rename(fw: BuiltFirmware, name: string): BuiltFirmware {
  const ext = fw.kind === "kernel" ? "bin" : "tbf";
  return { ...fw, name, file: `${name}.${ext}`, sha256: sha256Hex(fw.bytes) };
}

/**
 * A TAB of an app, as `elf2tab` makes one: metadata.toml plus the app's TBF for each architecture in `archs`
 * (default: every architecture the emulated boards run), optionally restricted to some boards.
 */
export function buildTab(name: string, options: { archs?: string[]; onlyForBoards?: string[] } = {}): BuiltFirmware {
  const tbf = buildFirmware(name);
  const files = new Map<string, Uint8Array>();
  const meta = [`tab-version = 1`, `name = "${name}"`, `build-date = 2026-01-01T00:00:00Z`];
  if (options.onlyForBoards) meta.push(`only-for-boards = "${options.onlyForBoards.join(", ")}"`);
  files.set("metadata.toml", new TextEncoder().encode(`${meta.join("\n")}\n`));
  for (const arch of options.archs ?? [...new Set(Object.values(BOARD_ARCH))]) files.set(`${arch}.tbf`, tbf.bytes);
  const bytes = writeTar(files);
  return { name, kind: "tab", file: `${name}.tab`, boardType: tbf.boardType, sha256: sha256Hex(bytes), bytes };
}
