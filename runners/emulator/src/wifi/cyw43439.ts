/**
 * The CYW43439 as the host sees it over gSPI. Nothing works until the driver has done the bring-up: the bus test
 * register reads 0xBEADFEED in 16-bit mode and 0xFEEDBEAD after switching to 32-bit words; the ALP clock must be
 * requested; firmware goes to RAM through the 32 KiB backplane window in chunks of at most 64 bytes; NVRAM sits
 * at the top of RAM followed by its magic length word; releasing the WLAN core from reset boots the firmware only
 * if RAM holds the exact firmware blob (size and SHA-256) and a valid NVRAM, after which the HT clock and F2 come
 * up. The firmware then takes ioctls on F2 (CLM upload checked by hash at its END chunk, `UP` refused without
 * CLM), runs scans, joins (with its own WPA2 supplicant) and moves data frames between F2 and an access point.
 */
import { createHash } from "node:crypto";
import type { Scheduler } from "../scheduler.ts";
import type { Mac } from "../net/ethernet.ts";
import { ETHERTYPE, decodeEthernet, encodeEthernet, macBytes } from "../net/ethernet.ts";
import { CYW43_CLM_SIZE, CYW43_FW_SIZE, cyw43Blob } from "../boards/firmware.ts";
import type { AccessPoint, StationLink, WifiAir } from "./access-point.ts";
import {
  ESCAN_PARTIAL,
  Ioctl,
  SdpcmChannel,
  WlcEvent,
  decodeCdc,
  decodeSdpcm,
  encodeCdc,
  encodeEscanResult,
  encodeEvent,
  encodeSdpcm,
  splitIovar,
  stripBdc,
  withBdc,
} from "./sdpcm.ts";
import { KEY_INFO, RSN_IE, decodeEapolKey, derivePsk, derivePtk, encodeEapolKey, micValid, withMic } from "./wpa2.ts";

export const REG = {
  BUS_CTRL: 0x0000,
  STATUS: 0x0008,
  BUS_TEST_RO: 0x0014,
  BUS_TEST_RW: 0x0018,
  BACKPLANE_WINDOW: 0x1000a,
  CHIP_CLOCK_CSR: 0x1000e,
} as const;
export const BUS_TEST_PATTERN = 0xfeedbead;
export const BUS_CTRL_WORD32 = 0x01;
export const CSR_ALP_REQ = 0x08;
export const CSR_ALP_AVAIL = 0x40;
export const CSR_HT_AVAIL = 0x80;
export const STATUS_F2_RX_READY = 0x20;
export const WLAN_ARMCORE = 0x18103000;
export const SOCSRAM = 0x18104000;
export const AI_RESETCTRL = 0x800;
export const RAM_SIZE = 512 * 1024;
export const BACKPLANE_WINDOW_SIZE = 0x8000;
export const MAX_BP_CHUNK = 64;
/** Firmware boot time after the WLAN core leaves reset, until HT clock and F2 are ready. */
export const FW_BOOT_MS = 30;
export const CLM_FLAG = { HANDLER_VER: 0x1000, BEGIN: 0x2, END: 0x4 } as const;
/** Broadcom error codes the firmware returns as CDC status. */
export const BCME = { ERROR: -1, BADARG: -2, NOTUP: -4, NOTFOUND: -30, UNSUPPORTED: -23 } as const;

export const SCAN_DWELL_MS = 40;
export const CHANNELS_2G = 11;

let expected: { fw: string; clm: string } | undefined;
function expectedHashes(): { fw: string; clm: string } {
  expected ??= {
    fw: createHash("sha256").update(cyw43Blob("fw")).digest("hex"),
    clm: createHash("sha256").update(cyw43Blob("clm")).digest("hex"),
  };
  return expected;
}

const swap16 = (v: number): number => (((v & 0xffff) << 16) | (v >>> 16)) >>> 0;

export type ChipStats = {
  ioctls: number;
  ioctlErrors: number;
  bpWrites: number;
  framesToAir: number;
  framesFromAir: number;
  bootFailures: number;
};

export class Cyw43439 {
  readonly mac: Mac;
  /** Called when the chip has an F2 packet for the host (the gSPI interrupt line). */
  onInterrupt: (() => void) | undefined;
  readonly #sched: Scheduler;
  readonly #air: WifiAir;
  #gen = 0;
  #word16 = true;
  #testRw = 0;
  #csr = 0;
  #window = 0;
  #ram = new Uint8Array(RAM_SIZE);
  #wlanInReset = true;
  #booted = false;
  #clm: Uint8Array[] = [];
  #clmLoaded = false;
  #up = false;
  #pmkPassphrase: string | undefined;
  #wsec = 0;
  #supWpa = false;
  #ap: AccessPoint | undefined;
  #keyed = false;
  #scanning = false;
  #rx: Uint8Array[] = [];
  #seq = 0;
  stats: ChipStats = { ioctls: 0, ioctlErrors: 0, bpWrites: 0, framesToAir: 0, framesFromAir: 0, bootFailures: 0 };
  /** Every ioctl/iovar the firmware saw, in order (e.g. "263 clmload", "26"), to compare with Tock's task lists. */
  trace: string[] = [];

  constructor(sched: Scheduler, air: WifiAir, mac: Mac) {
    this.#sched = sched;
    this.#air = air;
    this.mac = mac;
  }

  /** Power cycle (WL_REG_ON low then high): everything is lost. */
  powerCycle(): void {
    this.#gen++;
    if (this.#ap) this.#ap.disassociate(this.mac);
    this.#word16 = true;
    this.#testRw = 0;
    this.#csr = 0;
    this.#window = 0;
    this.#ram = new Uint8Array(RAM_SIZE);
    this.#wlanInReset = true;
    this.#booted = false;
    this.#clm = [];
    this.#clmLoaded = false;
    this.#up = false;
    this.#pmkPassphrase = undefined;
    this.#ap = undefined;
    this.#keyed = false;
    this.#scanning = false;
    this.#rx = [];
    this.trace = [];
  }

  #later(ms: number, fn: () => void): void {
    const gen = this.#gen;
    this.#sched.after(Math.round(ms * 1000), () => gen === this.#gen && fn());
  }

  // --- gSPI functions 0 (bus) and 1 (backplane) ----------------------------------------------------------------

  read32(fn: 0 | 1, addr: number): number {
    let v = 0;
    if (fn === 0) {
      if (addr === REG.BUS_TEST_RO) v = BUS_TEST_PATTERN;
      else if (addr === REG.BUS_TEST_RW) v = this.#testRw;
      else if (addr === REG.STATUS) v = this.#booted ? STATUS_F2_RX_READY | (this.#rx.length > 0 ? 0x100 : 0) : 0;
      // Before BUS_CTRL selects 32-bit words, the bus delivers 16-bit halves in the other order.
      return this.#word16 ? swap16(v) : v;
    }
    if (addr === REG.CHIP_CLOCK_CSR) return this.#csr;
    return 0;
  }

  write32(fn: 0 | 1, addr: number, value: number): void {
    if (fn === 0) {
      // Written words land as sent; only reads in 16-bit mode come back half-swapped (0x12345678 -> 0x56781234).
      const v = value >>> 0;
      if (addr === REG.BUS_CTRL && v & BUS_CTRL_WORD32) this.#word16 = false;
      else if (addr === REG.BUS_TEST_RW) this.#testRw = v;
      return;
    }
    if (addr === REG.CHIP_CLOCK_CSR) {
      if (value & CSR_ALP_REQ) this.#csr |= CSR_ALP_AVAIL;
      return;
    }
    if (addr === REG.BACKPLANE_WINDOW) {
      this.#window = value & ~(BACKPLANE_WINDOW_SIZE - 1);
      return;
    }
    // Core wrapper registers, reached through the window at the core's address.
    const full = this.#window | (addr & (BACKPLANE_WINDOW_SIZE - 1));
    if (full === WLAN_ARMCORE + AI_RESETCTRL) {
      const wasInReset = this.#wlanInReset;
      this.#wlanInReset = (value & 1) === 1;
      if (wasInReset && !this.#wlanInReset) this.#bootFirmware();
    }
  }

  /** Backplane write through the window: at most 64 bytes, entirely inside the current 32 KiB window. */
  bpWrite(address: number, data: Uint8Array): boolean {
    if (!(this.#csr & CSR_ALP_AVAIL)) return false;
    if (data.length > MAX_BP_CHUNK) return false;
    if ((address & ~(BACKPLANE_WINDOW_SIZE - 1)) !== this.#window) return false;
    if ((address & (BACKPLANE_WINDOW_SIZE - 1)) + data.length > BACKPLANE_WINDOW_SIZE) return false;
    if (address + data.length > RAM_SIZE) return false;
    this.#ram.set(data, address);
    this.stats.bpWrites++;
    return true;
  }

  #bootFirmware(): void {
    const want = expectedHashes();
    const fw = this.#ram.subarray(0, CYW43_FW_SIZE);
    const fwOk = createHash("sha256").update(fw).digest("hex") === want.fw;
    const dv = new DataView(this.#ram.buffer);
    const magic = dv.getUint32(RAM_SIZE - 4, true);
    const words = magic & 0xffff;
    const nvramOk =
      words > 0 &&
      magic >>> 16 === (~words & 0xffff) &&
      new TextDecoder().decode(this.#ram.subarray(RAM_SIZE - 4 - words * 4, RAM_SIZE - 4)).includes("boardtype=");
    if (!fwOk || !nvramOk) {
      // The ARM core runs garbage: no HT clock, F2 never becomes ready. The host only sees silence.
      this.stats.bootFailures++;
      return;
    }
    this.#later(FW_BOOT_MS, () => {
      this.#booted = true;
      this.#csr |= CSR_HT_AVAIL;
    });
  }

  get booted(): boolean {
    return this.#booted;
  }

  // --- function 2: packets ---------------------------------------------------------------------------------------

  /** Host -> chip F2 packet (SDPCM). Ignored until the firmware runs. */
  f2Write(packet: Uint8Array): void {
    if (!this.#booted) return;
    let sdpcm;
    try {
      sdpcm = decodeSdpcm(packet);
    } catch {
      return;
    }
    if (sdpcm.channel === SdpcmChannel.control) this.#later(0.2, () => this.#ioctl(sdpcm.payload));
    else if (sdpcm.channel === SdpcmChannel.data) this.#dataFromHost(stripBdc(sdpcm.payload));
  }

  /** Chip -> host: next pending packet, if any. */
  f2Read(): Uint8Array | undefined {
    return this.#rx.shift();
  }

  #toHost(channel: number, payload: Uint8Array): void {
    this.#rx.push(encodeSdpcm({ seq: this.#seq++, channel, payload }));
    this.onInterrupt?.();
  }

  #event(type: number, status: number, reason = 0, data: Uint8Array = new Uint8Array(0), addr: Mac = this.mac): void {
    this.#toHost(SdpcmChannel.event, withBdc(encodeEvent(this.mac, { type, status, reason, addr, data })));
  }

  #ioctl(payload: Uint8Array): void {
    let cdc;
    try {
      cdc = decodeCdc(payload);
    } catch {
      return;
    }
    this.stats.ioctls++;
    const respond = (status: number, data: Uint8Array = new Uint8Array(0)): void => {
      if (status !== 0) this.stats.ioctlErrors++;
      this.#toHost(SdpcmChannel.control, encodeCdc({ cmd: cdc.cmd, id: cdc.id, set: cdc.set, status, data }));
    };
    const dv = new DataView(cdc.data.buffer, cdc.data.byteOffset, cdc.data.byteLength);
    if (cdc.cmd === Ioctl.GET_VAR || cdc.cmd === Ioctl.SET_VAR) {
      const { name, value } = splitIovar(cdc.data);
      this.trace.push(`${cdc.cmd} ${name}`);
      if (cdc.cmd === Ioctl.GET_VAR) {
        if (name === "cur_etheraddr") return respond(0, macBytes(this.mac));
        return respond(BCME.UNSUPPORTED);
      }
      if (name === "clmload") return respond(this.#clmChunk(value));
      if (name === "escan") return respond(this.#startScan());
      if (name === "bsscfg:sup_wpa") {
        this.#supWpa = value.length >= 8 && new DataView(value.buffer, value.byteOffset).getUint32(4, true) === 1;
        return respond(0);
      }
      return respond(0);
    }
    this.trace.push(String(cdc.cmd));
    switch (cdc.cmd) {
      case Ioctl.UP:
        if (!this.#clmLoaded) return respond(BCME.NOTUP);
        this.#up = true;
        return respond(0);
      case Ioctl.DOWN:
        this.#up = false;
        return respond(0);
      case Ioctl.SET_WSEC:
        this.#wsec = cdc.data.length >= 4 ? dv.getUint32(0, true) : 0;
        return respond(0);
      case Ioctl.SET_WSEC_PMK: {
        const len = cdc.data.length >= 4 ? dv.getUint16(0, true) : 0;
        if (len < 8 || len > 64 || cdc.data.length < 4 + len) return respond(BCME.BADARG);
        this.#pmkPassphrase = new TextDecoder().decode(cdc.data.subarray(4, 4 + len));
        return respond(0);
      }
      case Ioctl.SET_SSID: {
        if (!this.#up) return respond(BCME.NOTUP);
        const len = cdc.data.length >= 4 ? Math.min(dv.getUint32(0, true), 32) : 0;
        const ssid = new TextDecoder().decode(cdc.data.subarray(4, 4 + len));
        respond(0);
        this.#join(ssid);
        return;
      }
      case Ioctl.DISASSOC:
        this.#ap?.disassociate(this.mac);
        this.#ap = undefined;
        this.#keyed = false;
        return respond(0);
      case Ioctl.SET_INFRA:
      case Ioctl.SET_AUTH:
      case Ioctl.SET_CHANNEL:
      case Ioctl.SET_ANTDIV:
      case Ioctl.SET_GMODE:
      case Ioctl.SET_BAND:
      case Ioctl.SET_WPA_AUTH:
      case Ioctl.SET_AP:
        return respond(0);
      default:
        return respond(BCME.UNSUPPORTED);
    }
  }

  /** clm_dload_data: flag u16, type u16, len u32, crc u32, data. The blob is checked when END arrives. */
  #clmChunk(value: Uint8Array): number {
    if (value.length < 12) return BCME.BADARG;
    const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const flag = dv.getUint16(0, true);
    const len = dv.getUint32(4, true);
    if (!(flag & CLM_FLAG.HANDLER_VER) || dv.getUint16(2, true) !== 2 || len !== value.length - 12) return BCME.BADARG;
    if (flag & CLM_FLAG.BEGIN) this.#clm = [];
    this.#clm.push(value.slice(12));
    if (!(flag & CLM_FLAG.END)) return 0;
    const total = this.#clm.reduce((n, c) => n + c.length, 0);
    const blob = new Uint8Array(total);
    let at = 0;
    for (const c of this.#clm) {
      blob.set(c, at);
      at += c.length;
    }
    this.#clmLoaded = total === CYW43_CLM_SIZE && createHash("sha256").update(blob).digest("hex") === expectedHashes().clm;
    return this.#clmLoaded ? 0 : BCME.ERROR;
  }

  #startScan(): number {
    if (!this.#up) return BCME.NOTUP;
    if (this.#scanning) return BCME.ERROR;
    this.#scanning = true;
    // Passive scan: each AP is heard while the radio dwells on its channel; the final event ends the scan.
    for (const ap of this.#air.visible()) {
      const c = ap.config;
      this.#later(SCAN_DWELL_MS * (c.channel - 0.5), () => this.#event(WlcEvent.ESCAN_RESULT, ESCAN_PARTIAL, 0, encodeEscanResult(c)));
    }
    this.#later(SCAN_DWELL_MS * CHANNELS_2G, () => {
      this.#scanning = false;
      this.#event(WlcEvent.ESCAN_RESULT, 0, 0, encodeEscanResult(undefined));
    });
    return 0;
  }

  #join(ssid: string): void {
    const candidates = this.#air.visible().filter((a) => a.config.ssid === ssid);
    const ap = candidates.sort((a, b) => b.config.rssi - a.config.rssi)[0];
    if (!ap) {
      this.#later(SCAN_DWELL_MS * CHANNELS_2G, () => this.#event(WlcEvent.SET_SSID, 3 /* no networks */));
      return;
    }
    const wantsWpa2 = this.#wsec !== 0 && this.#supWpa;
    if ((ap.config.security === "wpa2") !== wantsWpa2 || (wantsWpa2 && this.#pmkPassphrase === undefined)) {
      this.#later(20, () => this.#event(WlcEvent.SET_SSID, 1 /* fail: security mismatch */));
      return;
    }
    this.#ap = ap;
    this.#keyed = false;
    const gen = this.#gen;
    const pmk = wantsWpa2 ? derivePsk(this.#pmkPassphrase ?? "", ssid) : undefined;
    let ptk: ReturnType<typeof derivePtk> | undefined;
    let sNonce = new Uint8Array(32);
    const link: StationLink = {
      mac: this.mac,
      eapol: (frame) => {
        if (gen !== this.#gen || this.#ap !== ap || !pmk) return;
        const k = decodeEapolKey(frame);
        if (!k) return;
        if (!(k.keyInfo & KEY_INFO.mic)) {
          // Message 1: pick an SNonce, derive the PTK from our PMK, answer with a MIC'd message 2.
          sNonce = new Uint8Array(createHash("sha256").update(`${this.mac}/${ap.config.bssid}/${this.#seq}`).digest());
          ptk = derivePtk(pmk, ap.config.bssid, this.mac, k.nonce, sNonce);
          const m2 = encodeEapolKey({
            keyInfo: KEY_INFO.version2 | KEY_INFO.pairwise | KEY_INFO.mic,
            replayCounter: k.replayCounter,
            nonce: sNonce,
            data: RSN_IE,
          });
          this.#later(0.4, () => ap.eapolFromStation(this.mac, withMic(ptk?.kck ?? new Uint8Array(16), m2)));
          return;
        }
        // Message 3: only an AP with the same PMK can produce this MIC.
        if (!ptk || !micValid(ptk.kck, frame)) return;
        const m4 = encodeEapolKey({
          keyInfo: KEY_INFO.version2 | KEY_INFO.pairwise | KEY_INFO.mic | KEY_INFO.secure,
          replayCounter: k.replayCounter,
          nonce: new Uint8Array(32),
          data: new Uint8Array(0),
        });
        const kck = ptk.kck;
        this.#later(0.4, () => {
          ap.eapolFromStation(this.mac, withMic(kck, m4));
          this.#keyed = true;
          this.#event(WlcEvent.SET_SSID, 0, 0, new Uint8Array(0), ap.config.bssid);
        });
      },
      data: (frame) => {
        if (gen !== this.#gen || this.#ap !== ap || !this.#keyed) return;
        this.stats.framesFromAir++;
        this.#toHost(SdpcmChannel.data, withBdc(frame));
      },
      deauth: (reason) => {
        if (gen !== this.#gen || this.#ap !== ap) return;
        this.#ap = undefined;
        this.#keyed = false;
        // The firmware reports the join as failed once the AP gives up on the handshake.
        this.#event(WlcEvent.SET_SSID, 1, reason, new Uint8Array(0), ap.config.bssid);
      },
    };
    this.#later(10, () => {
      ap.associate(link);
      if (ap.config.security === "open") {
        this.#keyed = true;
        this.#event(WlcEvent.SET_SSID, 0, 0, new Uint8Array(0), ap.config.bssid);
      }
    });
  }

  #dataFromHost(frame: Uint8Array): void {
    if (!this.#ap || !this.#keyed) return;
    let eth;
    try {
      eth = decodeEthernet(frame);
    } catch {
      return;
    }
    // The firmware sends with its own address as transmitter; the AP bridges the 802.3 frame as is.
    if (eth.etherType === ETHERTYPE.eapol) return;
    this.stats.framesToAir++;
    const ap = this.#ap;
    const out = encodeEthernet(eth);
    this.#later(0.3, () => ap.dataFromStation(this.mac, out));
  }
}
