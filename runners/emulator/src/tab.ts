/**
 * TAB (Tock Application Bundle) archives, as `elf2tab` writes them and `tockloader install` reads them: a tar file
 * with `metadata.toml` (tab-version, name, optional only-for-boards) and one TBF per architecture, named
 * `<arch>.tbf` or `<arch>.<anything>.tbf`. Flashing a TAB picks the TBF for the board's architecture, as tockloader
 * does, and refuses a bundle that is restricted to other boards or has no TBF for this architecture.
 */
import { FlashError } from "@tock-hil/board";
import type { FirmwareImage } from "@tock-hil/board";

/** Architecture each emulated board type runs (the `<arch>` prefix of TBF names in a TAB). */
export const BOARD_ARCH: Readonly<Record<string, string>> = {
  nrf52840dk: "cortex-m4",
  nucleo_f429zi: "cortex-m4",
  raspberry_pi_pico_w: "cortex-m0",
  qemu_rv32_virt: "rv32imac",
  qemu_rv32_virt_multikernel: "rv32imac",
};

const BLOCK = 512;

export class TabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TabError";
  }
}

/** Reads the regular files of a ustar archive. */
export function readTar(bytes: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const text = new TextDecoder();
  for (let off = 0; off + BLOCK <= bytes.length;) {
    const header = bytes.subarray(off, off + BLOCK);
    if (header.every((b) => b === 0)) break; // end of archive
    const field = (start: number, len: number) =>
      text
        .decode(header.subarray(start, start + len))
        .replace(/\0.*$/s, "")
        .trim();
    const stored = header.reduce((sum, b, i) => sum + (i >= 148 && i < 156 ? 0x20 : b), 0);
    if (Number.parseInt(field(148, 8), 8) !== stored) throw new TabError(`tar header checksum mismatch at byte ${off}`);
    const size = Number.parseInt(field(124, 12) || "0", 8);
    const prefix = field(345, 155);
    const name = (prefix ? `${prefix}/` : "") + field(0, 100);
    const type = String.fromCharCode(header[156] ?? 0x30);
    const start = off + BLOCK;
    if (start + size > bytes.length) throw new TabError(`tar entry ${name} is truncated`);
    if (type === "0" || type === "\0") files.set(name.replace(/^\.\//, ""), bytes.slice(start, start + size));
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

/** Writes a ustar archive of regular files (what the firmware builder uses to make TABs). */
export function writeTar(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const [name, data] of files) {
    const h = new Uint8Array(BLOCK);
    const put = (start: number, s: string) => h.set(enc.encode(s), start);
    put(0, name);
    put(100, "0000644\0");
    put(108, "0000000\0");
    put(116, "0000000\0");
    put(124, `${data.length.toString(8).padStart(11, "0")}\0`);
    put(136, "00000000000\0");
    put(148, "        ");
    h[156] = 0x30;
    put(257, "ustar\0");
    put(263, "00");
    const sum = h.reduce((a, b) => a + b, 0);
    put(148, `${sum.toString(8).padStart(6, "0")}\0 `);
    parts.push(h, data, new Uint8Array((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The string values of a flat TOML document (all metadata.toml needs). */
function tomlStrings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))/.exec(line);
    if (m) out.set(m[1]!, m[2] ?? m[3] ?? m[4] ?? "");
  }
  return out;
}

/**
 * The TBF to flash from an app image: the image itself for `tbf`, or the TBF for the board's architecture from a
 * `tab`. Throws FlashError naming the image when the bundle is not for this board.
 */
export function appTbf(image: FirmwareImage, boardName: string, boardType: string, describe: (i: FirmwareImage) => string): Uint8Array {
  if (image.kind !== "tab") return image.bytes;
  let files: Map<string, Uint8Array>;
  try {
    files = readTar(image.bytes);
  } catch (err) {
    throw new FlashError("invalid_image", `${describe(image)}: not a valid TAB archive: ${(err as Error).message}`, image.name);
  }
  const metadata = files.get("metadata.toml");
  if (!metadata) throw new FlashError("invalid_image", `${describe(image)}: TAB has no metadata.toml`, image.name);
  const meta = tomlStrings(new TextDecoder().decode(metadata));
  const only = meta.get("only-for-boards");
  if (only) {
    const boards = only
      .split(",")
      .map((b) => b.trim())
      .filter(Boolean);
    if (!boards.includes(boardType)) {
      throw new FlashError(
        "wrong_board",
        `${describe(image)}: TAB is only for ${boards.join(", ")}; ${boardName} is a ${boardType}`,
        image.name,
      );
    }
  }
  const arch = BOARD_ARCH[boardType];
  const tbfs = [...files.keys()].filter((n) => n.endsWith(".tbf"));
  const pick = tbfs.find((n) => arch !== undefined && (n === `${arch}.tbf` || n.startsWith(`${arch}.`)));
  if (!pick) {
    throw new FlashError(
      "wrong_board",
      `${describe(image)}: TAB has no TBF for ${arch ?? "this board"} (${boardName} is a ${boardType}); it has ${tbfs.join(", ") || "none"}`,
      image.name,
    );
  }
  return files.get(pick)!;
}
