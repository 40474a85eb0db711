/**
 * Builds the images the emulator accepts, standing in for `make` in the kernel and libtock-c trees: emulated
 * kernel images for known kernel names and TBF apps for anything else. Bodies are deterministic pseudo-random
 * bytes so images are byte-stable across builds (same name and options => same sha256).
 */
import { createHash } from "node:crypto";
import type { FirmwareKind } from "@tock-hil/board";
import type { KernelFlavour } from "./kernel-image.ts";
import { encodeKernelImage } from "./kernel-image.ts";
import { createRng, hashString } from "./prng.ts";
import { TBF_FLAG_ENABLED, encodeTbfHeader } from "./tbf.ts";

/** Kernel builds the emulator knows: Tock board directories and what they wire up. */
export const KERNELS: Readonly<Record<string, { board: string; flavour: KernelFlavour }>> = {
  nrf52840dk: { board: "nrf52840dk", flavour: "mac" },
  "nrf52840dk-thread-tutorial": { board: "nrf52840dk", flavour: "raw" },
};

export const DEFAULT_FIRMWARE = ["nrf52840dk", "radio_tx", "radio_rx"] as const;
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
  kind: Extract<FirmwareKind, "kernel" | "tbf">;
  /** File name as `build-firmware` writes it. */
  file: string;
  boardType: string;
  sha256: string;
  bytes: Uint8Array;
};

function fillerBytes(name: string, length: number): Uint8Array {
  const rng = createRng(hashString(name), 0x600d);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

function nextPowerOfTwo(n: number): number {
  let p = 1024;
  while (p < n) p *= 2;
  return p;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function isKernelName(name: string): boolean {
  return Object.hasOwn(KERNELS, name);
}

export function buildFirmware(name: string, options: BuildOptions = {}): BuiltFirmware {
  const kernel = KERNELS[name];
  if (kernel) {
    const bytes = encodeKernelImage(
      {
        board: kernel.board,
        flavour: kernel.flavour,
        channel: options.channel ?? DEFAULT_CHANNEL,
        kernelVersion: options.kernelVersion ?? DEFAULT_KERNEL_VERSION,
      },
      fillerBytes(`kernel:${name}`, 24 * 1024),
    );
    if (options.corruptHeader) bytes[20] = (bytes[20] ?? 0) ^ 0x01;
    return { name, kind: "kernel", file: `${name}.bin`, boardType: kernel.board, sha256: sha256Hex(bytes), bytes };
  }
  if (name.length === 0 || new TextEncoder().encode(name).length > 255) throw new RangeError(`bad app name ${JSON.stringify(name)}`);
  // Body size varies by name (2..6 KiB) so different apps land at different offsets, like real builds.
  const bodyLength = 2048 + (hashString(name) % 4096);
  const tlvs = (binaryEndOffset: number) => [
    { type: "program" as const, initFnOffset: 0x41, protectedTrailerSize: 0, minimumRamSize: 8192, binaryEndOffset, appVersion: 0 },
    { type: "packageName" as const, name },
    { type: "kernelVersion" as const, major: 2, minor: 2 },
  ];
  // The header size does not depend on the Program values, so measure it once with a placeholder.
  const headerSize = encodeTbfHeader({ totalSize: 0, flags: 0, tlvs: tlvs(0) }).length;
  const totalSize = nextPowerOfTwo(headerSize + bodyLength);
  const header = encodeTbfHeader({
    totalSize,
    flags: options.enabled === false ? 0 : TBF_FLAG_ENABLED,
    tlvs: tlvs(headerSize + bodyLength),
  });
  const bytes = new Uint8Array(totalSize);
  bytes.set(header);
  bytes.set(fillerBytes(`app:${name}`, bodyLength), headerSize);
  // Padding after the binary is erased flash.
  bytes.fill(0xff, headerSize + bodyLength);
  if (options.corruptHeader) bytes[20] = (bytes[20] ?? 0) ^ 0x40;
  return { name, kind: "tbf", file: `${name}.tbf`, boardType: "nrf52840dk", sha256: sha256Hex(bytes), bytes };
}
