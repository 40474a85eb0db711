/**
 * Images for the network and multi-kernel boards, built like `firmware.ts` builds the nRF52840DK ones: emulated
 * kernel images (TOCKEMUK) whose body carries named sections standing in for what the real kernel links in (the
 * CYW43439 firmware, CLM and NVRAM on the Pico W), and TBF apps. Apps meant for the second kernel of the
 * multi-kernel board carry a FixedAddresses TLV (type 5) placing their RAM in that core's memory, which is how a
 * kernel instance tells its apps from the other's.
 */
import type { KernelImageInfo } from "../kernel-image.ts";
import { encodeKernelImage } from "../kernel-image.ts";
import { createRng, hashString } from "../prng.ts";
import { fillerBytes, packTbfApp, sha256Hex } from "../image-parts.ts";
import type { TbfHeader, TbfTlv } from "../tbf.ts";

export const NUCLEO_F429ZI = "nucleo_f429zi";
export const QEMU_RV32_VIRT = "qemu_rv32_virt";
export const PICO_W = "raspberry_pi_pico_w";
export const MULTIKERNEL = "qemu_rv32_virt_multikernel";
export const NETWORK_BOARD_TYPES = [NUCLEO_F429ZI, QEMU_RV32_VIRT, PICO_W, MULTIKERNEL] as const;

/** Kernel flavour recorded in the image: these kernels have no 802.15.4 stack. */
export const NO_RADIO_FLAVOUR = "none" as const;

/** Sizes of the emulated CYW43439 blobs (the real 43439A0 firmware is ~225 KiB, its CLM ~4.7 KiB). */
export const CYW43_FW_SIZE = 230_321;
export const CYW43_CLM_SIZE = 4_752;

export type SectionName = "cyw43.fw" | "cyw43.clm" | "cyw43.nvram";

/** The one firmware/CLM the emulated chip boots: deterministic bytes standing in for Infineon's blobs. */
export function cyw43Blob(which: "fw" | "clm"): Uint8Array {
  const size = which === "fw" ? CYW43_FW_SIZE : CYW43_CLM_SIZE;
  const rng = createRng(hashString(`cyw43439:${which}`), 0x43439);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

/** NVRAM text as the board file has it: NUL-separated key=value pairs ending in a double NUL. */
export const CYW43_NVRAM =
  [
    "NVRAMRev=$Rev$",
    "manfid=0x2d0",
    "prodid=0x0727",
    "vendid=0x14e4",
    "devid=0x43e2",
    "boardtype=0x0887",
    "boardrev=0x1101",
    "boardnum=22",
    "macaddr=00:90:4c:c5:12:38",
    "sromrev=11",
    "boardflags=0x00404001",
    "boardflags3=0x04000000",
    "xtalfreq=37400",
    "nocrc=1",
    "ag0=255",
    "aa2g=1",
    "ccode=ALL",
    "pa0itssit=0x20",
    "extpagain2g=0",
    "pa2ga0=-168,6649,-778",
    "AvVmid_c0=0x0,0xc8",
    "cckpwroffset0=5",
    "maxp2ga0=84",
    "txpwrbw4080=1",
    "cckbw202gpo=0",
    "legofdmbw202gpo=0x66111111",
    "mcsbw202gpo=0x77711111",
    "propbw202gpo=0xdd",
    "ofdmdigfilttype=18",
    "ofdmdigfilttypebe=18",
    "papdmode=1",
    "papdvalidtest=1",
    "pacalidx2g=45",
    "papdepsoffset=-30",
    "papdendidx=58",
    "ltecxmux=0",
    "ltecxpadnum=0x0102",
    "ltecxfnsel=0x44",
    "ltecxgcigpio=0x01",
    "il0macaddr=00:90:4c:c5:12:38",
    "wl0id=0x431b",
    "deadman_to=0xffffffff",
    "muxenab=0x100",
    "spurconfig=0x3",
    "glitch_based_crsmin=1",
    "btc_mode=1",
    "",
  ].join("\0") + "\0";

type KernelSpec = { board: string; sections: SectionName[] };

export const NETWORK_KERNELS: Readonly<Record<string, KernelSpec>> = {
  [NUCLEO_F429ZI]: { board: NUCLEO_F429ZI, sections: [] },
  [QEMU_RV32_VIRT]: { board: QEMU_RV32_VIRT, sections: [] },
  [PICO_W]: { board: PICO_W, sections: ["cyw43.fw", "cyw43.clm", "cyw43.nvram"] },
  // Built without the tock-firmware-cyw43 blob: the board boots, the WiFi driver cannot bring the chip up.
  [`${PICO_W}-no-wifi-fw`]: { board: PICO_W, sections: ["cyw43.clm", "cyw43.nvram"] },
  [MULTIKERNEL]: { board: MULTIKERNEL, sections: [] },
};

/** RAM of each core of the multi-kernel board; a FixedAddresses TLV in one of them pins an app to that kernel. */
export const MULTIKERNEL_RAM = [
  { start: 0x80200000, size: 0x100000 },
  { start: 0x80300000, size: 0x100000 },
] as const;
export const TLV_FIXED_ADDRESSES = 5;

type AppSpec = { boardType: string; kernelInstance?: 0 | 1 };

export const NETWORK_APPS: Readonly<Record<string, AppSpec>> = {
  lwip_net_test: { boardType: NUCLEO_F429ZI },
  wifi_http: { boardType: PICO_W },
  wifi_http_wrong_psk: { boardType: PICO_W },
  rot13_client: { boardType: MULTIKERNEL, kernelInstance: 0 },
  "org.tockos.examples.rot13": { boardType: MULTIKERNEL, kernelInstance: 0 },
  ipc_mk_client: { boardType: MULTIKERNEL, kernelInstance: 0 },
  ipc_echo_local: { boardType: MULTIKERNEL, kernelInstance: 0 },
  ipc_echo_remote: { boardType: MULTIKERNEL, kernelInstance: 1 },
  ipc_silent_service: { boardType: MULTIKERNEL, kernelInstance: 1 },
  ipc_crash_service: { boardType: MULTIKERNEL, kernelInstance: 1 },
};

/** Names `build-firmware` builds by default for these boards (everything the ethernet, wifi and ipc suites use). */
export const NETWORK_DEFAULT_FIRMWARE = [...Object.keys(NETWORK_KERNELS), ...Object.keys(NETWORK_APPS)];

const SECTION_MAGIC = "EMUSECT1";
const SECTION_ENTRY = 24; // name[16], offset u32, length u32

function sectionBytes(name: SectionName): Uint8Array {
  if (name === "cyw43.fw") return cyw43Blob("fw");
  if (name === "cyw43.clm") return cyw43Blob("clm");
  return new TextEncoder().encode(CYW43_NVRAM);
}

/** Body of a kernel image: section table, section data, then code filler. */
function kernelBody(name: string, sections: SectionName[]): Uint8Array {
  const datas = sections.map(sectionBytes);
  const tableSize = 12 + SECTION_ENTRY * sections.length;
  const code = fillerBytes(`kernel:${name}`, 16 * 1024);
  const out = new Uint8Array(tableSize + datas.reduce((n, d) => n + d.length, 0) + code.length);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(SECTION_MAGIC), 0);
  dv.setUint32(8, sections.length, true);
  let at = tableSize;
  sections.forEach((s, i) => {
    const e = 12 + i * SECTION_ENTRY;
    out.set(new TextEncoder().encode(s.padEnd(16, "\0")), e);
    dv.setUint32(e + 16, at, true);
    dv.setUint32(e + 20, (datas[i] as Uint8Array).length, true);
    out.set(datas[i] as Uint8Array, at);
    at += (datas[i] as Uint8Array).length;
  });
  out.set(code, at);
  return out;
}

/**
 * Sections linked into a flashed kernel image (already validated by `parseKernelImage`), by name. A board reads
 * them from its flash like the real kernel reads its linked-in blobs.
 */
export function kernelSections(image: Uint8Array): Map<string, Uint8Array> {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const headerSize = dv.getUint16(10, true);
  const body = image.subarray(headerSize, image.length - 4);
  const out = new Map<string, Uint8Array>();
  if (new TextDecoder().decode(body.subarray(0, 8)) !== SECTION_MAGIC) return out;
  const bdv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const count = bdv.getUint32(8, true);
  for (let i = 0; i < count; i++) {
    const e = 12 + i * SECTION_ENTRY;
    if (e + SECTION_ENTRY > body.length) break;
    const name = new TextDecoder().decode(body.subarray(e, e + 16)).replace(/\0+$/, "");
    const offset = bdv.getUint32(e + 16, true);
    const length = bdv.getUint32(e + 20, true);
    if (offset + length > body.length) continue;
    out.set(name, body.subarray(offset, offset + length));
  }
  return out;
}

/** Kernel instance an app is placed on (its FixedAddresses RAM start), or undefined when it has no placement. */
export function appKernelInstance(header: TbfHeader): number | undefined {
  for (const t of header.tlvs) {
    if (t.type !== "other" || t.tlvType !== TLV_FIXED_ADDRESSES || t.value.length < 8) continue;
    const ram = new DataView(t.value.buffer, t.value.byteOffset, t.value.byteLength).getUint32(0, true);
    const i = MULTIKERNEL_RAM.findIndex((r) => ram >= r.start && ram < r.start + r.size);
    return i < 0 ? -1 : i;
  }
  return undefined;
}

export type NetworkBuildOptions = { enabled?: boolean; corruptHeader?: boolean; kernelVersion?: string };

export type NetworkBuilt = { name: string; kind: "kernel" | "tbf"; file: string; boardType: string; sha256: string; bytes: Uint8Array };

/** Builds one of this module's images, or returns undefined when `name` is not one of them. */
export function buildNetworkFirmware(name: string, options: NetworkBuildOptions = {}): NetworkBuilt | undefined {
  const kernel = NETWORK_KERNELS[name];
  if (kernel) {
    const info: Omit<KernelImageInfo, "totalSize"> = {
      board: kernel.board,
      flavour: NO_RADIO_FLAVOUR,
      // The format requires a 15.4 channel; these kernels have no radio, so it is the unused default.
      channel: 26,
      kernelVersion: options.kernelVersion ?? "2.2.0",
    };
    const bytes = encodeKernelImage(info, kernelBody(name, kernel.sections));
    if (options.corruptHeader) bytes[20] = (bytes[20] ?? 0) ^ 0x01;
    return { name, kind: "kernel", file: `${name}.bin`, boardType: kernel.board, sha256: sha256Hex(bytes), bytes };
  }
  const app = NETWORK_APPS[name];
  if (!app) return undefined;
  const tlvs = (binaryEndOffset: number): TbfTlv[] => {
    const list: TbfTlv[] = [
      { type: "program", initFnOffset: 0x41, protectedTrailerSize: 0, minimumRamSize: 8192, binaryEndOffset, appVersion: 0 },
      { type: "packageName", name },
      { type: "kernelVersion", major: 2, minor: 2 },
    ];
    if (app.kernelInstance !== undefined) {
      const v = new Uint8Array(8);
      const dv = new DataView(v.buffer);
      const ram = MULTIKERNEL_RAM[app.kernelInstance];
      dv.setUint32(0, ram.start + 0x10000 + (hashString(name) % 16) * 0x4000, true);
      dv.setUint32(4, 0xffffffff, true); // flash position-independent
      list.push({ type: "other", tlvType: TLV_FIXED_ADDRESSES, value: v });
    }
    return list;
  };
  const bytes = packTbfApp(name, tlvs, options);
  return { name, kind: "tbf", file: `${name}.tbf`, boardType: app.boardType, sha256: sha256Hex(bytes), bytes };
}
