/**
 * Tock's CYW4343x capsule and WiFi syscall driver (0x30008) as models: the gSPI bus init, firmware/NVRAM upload
 * and wakeup, then the init task list (wait 2 s, CLM upload in 1024-byte chunks, iovars, read the MAC, UP), and
 * the scan / join task lists, each ioctl sent as a real SDPCM+CDC packet and its CDC status checked. One command
 * at a time (BUSY otherwise); passphrases outside 8..63 bytes are INVAL. The data channel doubles as the
 * Ethernet HIL for the tap capsule.
 */
import type { Scheduler } from "../scheduler.ts";
import type { Mac } from "../net/ethernet.ts";
import { ETHERTYPE, decodeEthernet, macString } from "../net/ethernet.ts";
import type { FrameLink } from "../net/tap.ts";
import type { Cyw43439 } from "./cyw43439.ts";
import {
  AI_RESETCTRL,
  BACKPLANE_WINDOW_SIZE,
  CLM_FLAG,
  CSR_ALP_AVAIL,
  CSR_ALP_REQ,
  CSR_HT_AVAIL,
  MAX_BP_CHUNK,
  RAM_SIZE,
  REG,
  STATUS_F2_RX_READY,
  WLAN_ARMCORE,
} from "./cyw43439.ts";
import {
  ESCAN_PARTIAL,
  Ioctl,
  SdpcmChannel,
  WlcEvent,
  decodeCdc,
  decodeEscanResult,
  decodeEvent,
  decodeSdpcm,
  encodeCdc,
  encodeSdpcm,
  iovar,
  stripBdc,
  u32le,
  withBdc,
} from "./sdpcm.ts";

export const WIFI_DRIVER_NUM = 0x30008;
export const WifiStatus = { SUCCESS: 0, FAIL: -1, BUSY: -2, INVAL: -6, NODEVICE: -11 } as const;
export type WifiSecurity = "open" | "wpa2";

export function wifiStatusName(rc: number): string {
  return Object.entries(WifiStatus).find(([, v]) => v === rc)?.[0] ?? String(rc);
}

/** Time the init task list waits after wakeup before the CLM upload (driver.rs `init::OPS`). */
export const INIT_WAIT_MS = 2000;
const WAKEUP_POLL_MS = 1;
const WAKEUP_TIMEOUT_MS = 1000;
const IOCTL_TIMEOUT_MS = 500;
const CLM_CHUNK = 1024;
/** REG_BUS_CTRL value: 32-bit words, big-endian off, high-speed mode, interrupt polarity high, wake-up. */
const BUS_CONFIG_DATA = 0x000304b1;
/** gSPI at 31.25 MHz: 32 bits of command + data per transaction. */
const spiUs = (bytes: number): number => Math.ceil(((bytes + 4) * 8) / 31.25);

export type WifiBlobs = { firmware: Uint8Array | undefined; clm: Uint8Array | undefined; nvram: Uint8Array | undefined };

export class Cyw43Driver {
  readonly #sched: Scheduler;
  readonly #chip: Cyw43439;
  readonly #blobs: WifiBlobs;
  #gen = 0;
  #busy = false;
  #ready = false;
  #mac: Mac | undefined;
  #ioctlId = 1;
  #pending: { id: number; done: (status: number, data: Uint8Array) => void } | undefined;
  #scan: { result: (ssid: string) => void; done: (status: number) => void } | undefined;
  #join: ((status: number) => void) | undefined;
  #sdpcmSeq = 0;
  /** The Ethernet HIL the tap capsule sits on. */
  readonly link: FrameLink;
  #linkUp = false;

  constructor(sched: Scheduler, chip: Cyw43439, blobs: WifiBlobs) {
    this.#sched = sched;
    this.#chip = chip;
    this.#blobs = blobs;
    const link: FrameLink = {
      transmit: (frame, done) => {
        if (this.#ready && this.#linkUp)
          this.#chip.f2Write(encodeSdpcm({ seq: this.#sdpcmSeq++, channel: SdpcmChannel.data, payload: withBdc(frame) }));
        this.#after(spiUs(frame.length + 16) / 1000, done);
      },
      onReceive: undefined,
    };
    this.link = link;
    chip.onInterrupt = () => this.#after(0.01, () => this.#drain());
  }

  /** Forgets everything (board reset); the chip is power-cycled by the board. */
  reset(): void {
    this.#gen++;
    this.#busy = false;
    this.#ready = false;
    this.#mac = undefined;
    this.#pending = undefined;
    this.#scan = undefined;
    this.#join = undefined;
    this.#linkUp = false;
  }

  get mac(): Mac | undefined {
    return this.#mac;
  }

  #after(ms: number, fn: () => void): void {
    const gen = this.#gen;
    this.#sched.after(Math.max(0, Math.round(ms * 1000)), () => gen === this.#gen && fn());
  }

  // --- userspace commands ----------------------------------------------------------------------------------------

  /** Command 1: init. The upcall reports SUCCESS or FAIL. */
  init(done: (status: number) => void): number {
    if (this.#busy) return WifiStatus.BUSY;
    this.#busy = true;
    const finish = (status: number): void => {
      this.#busy = false;
      done(status);
    };
    this.#busInit((ok) => {
      if (!ok) return finish(WifiStatus.FAIL);
      this.#after(INIT_WAIT_MS, () => this.#initIoctls(finish));
    });
    return WifiStatus.SUCCESS;
  }

  scan(result: (ssid: string) => void, done: (status: number) => void): number {
    if (!this.#ready) return WifiStatus.NODEVICE;
    if (this.#busy) return WifiStatus.BUSY;
    this.#busy = true;
    this.#scan = {
      result,
      done: (s) => {
        this.#busy = false;
        this.#scan = undefined;
        done(s);
      },
    };
    const params = new Uint8Array(72);
    const dv = new DataView(params.buffer);
    dv.setUint32(0, 1, true); // version
    dv.setUint16(4, 1, true); // action START
    dv.setUint16(6, 1, true); // sync id
    params.fill(0xff, 44, 50); // bssid ff..ff
    params[50] = 2; // bss type any
    params[51] = 1; // passive
    this.#ioctl(Ioctl.SET_VAR, iovar("escan", params), (status) => {
      if (status !== 0) this.#scan?.done(WifiStatus.FAIL);
    });
    return WifiStatus.SUCCESS;
  }

  /** Command 5: join (WPA2 task list from driver.rs). */
  join(ssid: string, security: WifiSecurity, passphrase: string, done: (status: number) => void): number {
    if (!this.#ready) return WifiStatus.NODEVICE;
    if (this.#busy) return WifiStatus.BUSY;
    const ssidBytes = new TextEncoder().encode(ssid);
    const pass = new TextEncoder().encode(passphrase);
    if (ssidBytes.length === 0 || ssidBytes.length > 32) return WifiStatus.INVAL;
    if (security === "wpa2" && (pass.length < 8 || pass.length > 63)) return WifiStatus.INVAL;
    this.#busy = true;
    this.#join = (s) => {
      this.#busy = false;
      this.#join = undefined;
      this.#linkUp = s === WifiStatus.SUCCESS;
      done(s);
    };
    const setSsid = new Uint8Array(36);
    new DataView(setSsid.buffer).setUint32(0, ssidBytes.length, true);
    setSsid.set(ssidBytes, 4);
    const pmk = new Uint8Array(68);
    new DataView(pmk.buffer).setUint16(0, pass.length, true);
    new DataView(pmk.buffer).setUint16(2, 1, true); // WSEC_PASSPHRASE
    pmk.set(pass, 4);
    const bsscfg = (name: string, v: number): Uint8Array => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setInt32(4, v, true);
      return iovar(name, b);
    };
    const ops: [number, Uint8Array, number?][] =
      security === "wpa2"
        ? [
            [Ioctl.SET_VAR, iovar("ampdu_ba_wsize", u32le(8))],
            [Ioctl.SET_WSEC, u32le(4)],
            [Ioctl.SET_VAR, bsscfg("bsscfg:sup_wpa", 1)],
            [Ioctl.SET_VAR, bsscfg("bsscfg:sup_wpa2_eapver", -1)],
            [Ioctl.SET_VAR, bsscfg("bsscfg:sup_wpa_tmo", 2500), 110],
            [Ioctl.SET_WSEC_PMK, pmk],
            [Ioctl.SET_INFRA, u32le(1)],
            [Ioctl.SET_AUTH, u32le(0)],
            [Ioctl.SET_VAR, iovar("mfp", u32le(1))],
            [Ioctl.SET_WPA_AUTH, u32le(0x80)],
            [Ioctl.SET_SSID, setSsid],
          ]
        : [
            [Ioctl.SET_VAR, iovar("ampdu_ba_wsize", u32le(8))],
            [Ioctl.SET_WSEC, u32le(0)],
            [Ioctl.SET_VAR, bsscfg("bsscfg:sup_wpa", 0)],
            [Ioctl.SET_INFRA, u32le(1)],
            [Ioctl.SET_AUTH, u32le(0)],
            [Ioctl.SET_WPA_AUTH, u32le(0)],
            [Ioctl.SET_SSID, setSsid],
          ];
    // The join completes on the SET_SSID event, not on the ioctl's response.
    this.#runOps(ops, (ok) => {
      if (!ok) this.#join?.(WifiStatus.FAIL);
    });
    return WifiStatus.SUCCESS;
  }

  leave(): number {
    if (!this.#ready) return WifiStatus.NODEVICE;
    this.#linkUp = false;
    this.#ioctl(Ioctl.DISASSOC, new Uint8Array(0), () => undefined);
    return WifiStatus.SUCCESS;
  }

  // --- bring-up --------------------------------------------------------------------------------------------------

  #busInit(done: (ok: boolean) => void): void {
    const chip = this.#chip;
    chip.powerCycle();
    // 16-bit mode: the test register comes back with its halves swapped.
    if (chip.read32(0, REG.BUS_TEST_RO) !== 0xbeadfeed) return this.#after(1, () => done(false));
    chip.write32(0, REG.BUS_TEST_RW, 0x12345678);
    if (chip.read32(0, REG.BUS_TEST_RW) !== 0x56781234) return this.#after(1, () => done(false));
    chip.write32(0, REG.BUS_CTRL, BUS_CONFIG_DATA);
    if (chip.read32(0, REG.BUS_TEST_RO) !== 0xfeedbead) return this.#after(1, () => done(false));
    chip.write32(1, REG.CHIP_CLOCK_CSR, CSR_ALP_REQ);
    if (!(chip.read32(1, REG.CHIP_CLOCK_CSR) & CSR_ALP_AVAIL)) return this.#after(1, () => done(false));
    // WLAN core held in reset while RAM is written.
    chip.write32(1, REG.BACKPLANE_WINDOW, WLAN_ARMCORE);
    chip.write32(1, WLAN_ARMCORE + AI_RESETCTRL, 1);
    const fw = this.#blobs.firmware ?? new Uint8Array(0);
    let spi = this.#upload(0, fw);
    const nvram = this.#blobs.nvram ?? new Uint8Array(0);
    const nvLen4 = Math.ceil(nvram.length / 4) * 4;
    const padded = new Uint8Array(nvLen4);
    padded.set(nvram);
    spi += this.#upload(RAM_SIZE - 4 - nvLen4, padded);
    const words = nvLen4 / 4;
    const magic = new Uint8Array(4);
    new DataView(magic.buffer).setUint32(0, ((~words & 0xffff) << 16) | words, true);
    spi += this.#upload(RAM_SIZE - 4, magic);
    // Release the WLAN core, then poll for the HT clock the booted firmware turns on.
    this.#after(spi / 1000, () => {
      chip.write32(1, REG.BACKPLANE_WINDOW, WLAN_ARMCORE);
      chip.write32(1, WLAN_ARMCORE + AI_RESETCTRL, 0);
      const start = this.#sched.nowUs;
      const poll = (): void => {
        if (chip.read32(1, REG.CHIP_CLOCK_CSR) & CSR_HT_AVAIL && chip.read32(0, REG.STATUS) & STATUS_F2_RX_READY) {
          this.#ready = true;
          return done(true);
        }
        if (this.#sched.nowUs - start > WAKEUP_TIMEOUT_MS * 1000) return done(false);
        this.#after(WAKEUP_POLL_MS, poll);
      };
      this.#after(30, poll);
    });
  }

  /** Writes `data` at `address` through the backplane window in 64-byte chunks; returns the SPI time in us. */
  #upload(address: number, data: Uint8Array): number {
    let us = 0;
    for (let off = 0; off < data.length; off += MAX_BP_CHUNK) {
      const at = address + off;
      const inWindow = BACKPLANE_WINDOW_SIZE - (at & (BACKPLANE_WINDOW_SIZE - 1));
      const chunk = data.subarray(off, off + Math.min(MAX_BP_CHUNK, inWindow));
      this.#chip.write32(1, REG.BACKPLANE_WINDOW, at);
      this.#chip.bpWrite(at, chunk);
      us += spiUs(chunk.length);
      if (chunk.length < MAX_BP_CHUNK && off + chunk.length < data.length) off -= MAX_BP_CHUNK - chunk.length;
    }
    return us;
  }

  #initIoctls(finish: (status: number) => void): void {
    const clm = this.#blobs.clm ?? new Uint8Array(0);
    const ops: [number, Uint8Array][] = [];
    for (let off = 0; off < clm.length || off === 0; off += CLM_CHUNK) {
      const chunk = clm.subarray(off, off + CLM_CHUNK);
      let flag = CLM_FLAG.HANDLER_VER;
      if (off === 0) flag |= CLM_FLAG.BEGIN;
      if (off + CLM_CHUNK >= clm.length) flag |= CLM_FLAG.END;
      const v = new Uint8Array(12 + chunk.length);
      const dv = new DataView(v.buffer);
      dv.setUint16(0, flag, true);
      dv.setUint16(2, 2, true);
      dv.setUint32(4, chunk.length, true);
      v.set(chunk, 12);
      ops.push([Ioctl.SET_VAR, iovar("clmload", v)]);
    }
    ops.push(
      [Ioctl.SET_VAR, iovar("bus:txglom", u32le(0))],
      [Ioctl.SET_VAR, iovar("apsta", u32le(1))],
      [Ioctl.GET_VAR, iovar("cur_etheraddr", new Uint8Array(6))],
      [Ioctl.SET_VAR, iovar("country", new TextEncoder().encode("XX\0\0\xff\xff\xff\xffXX\0\0"))],
      [Ioctl.SET_ANTDIV, u32le(0)],
      [Ioctl.SET_VAR, iovar("ampdu_ba_wsize", u32le(8))],
      [Ioctl.SET_VAR, iovar("ampdu_mpdu", u32le(4))],
      [Ioctl.SET_VAR, iovar("bsscfg:event_msgs", new Uint8Array(28).fill(0xff))],
      [Ioctl.UP, new Uint8Array(0)],
      [Ioctl.SET_GMODE, u32le(1)],
      [Ioctl.SET_BAND, u32le(0)],
    );
    this.#runOps(ops, (ok) => finish(ok && this.#mac !== undefined ? WifiStatus.SUCCESS : WifiStatus.FAIL));
  }

  /** Runs ioctls in order, one in flight; stops at the first non-zero CDC status. */
  #runOps(ops: [number, Uint8Array, number?][], done: (ok: boolean) => void): void {
    const step = (i: number): void => {
      const op = ops[i];
      if (!op) return done(true);
      const [cmd, data, waitMs] = op;
      this.#ioctl(cmd, data, (status, reply) => {
        if (status !== 0) return done(false);
        if (cmd === Ioctl.GET_VAR && reply.length >= 6) this.#mac = macString(reply);
        if (waitMs) this.#after(waitMs, () => step(i + 1));
        else step(i + 1);
      });
    };
    step(0);
  }

  #ioctl(cmd: number, data: Uint8Array, done: (status: number, data: Uint8Array) => void): void {
    const id = this.#ioctlId++ & 0xffff;
    const set = cmd !== Ioctl.GET_VAR;
    this.#pending = { id, done };
    this.#chip.f2Write(
      encodeSdpcm({ seq: this.#sdpcmSeq++, channel: SdpcmChannel.control, payload: encodeCdc({ cmd, id, set, status: 0, data }) }),
    );
    this.#after(IOCTL_TIMEOUT_MS, () => {
      if (this.#pending?.id !== id) return;
      this.#pending = undefined;
      done(-1, new Uint8Array(0));
    });
  }

  /** Interrupt: read every pending F2 packet and dispatch by SDPCM channel. */
  #drain(): void {
    for (let p = this.#chip.f2Read(); p; p = this.#chip.f2Read()) {
      let sdpcm;
      try {
        sdpcm = decodeSdpcm(p);
      } catch {
        continue;
      }
      if (sdpcm.channel === SdpcmChannel.control) {
        const cdc = decodeCdc(sdpcm.payload);
        const pending = this.#pending;
        if (pending && pending.id === cdc.id) {
          this.#pending = undefined;
          pending.done(cdc.status, cdc.data);
        }
      } else if (sdpcm.channel === SdpcmChannel.event) {
        const ev = decodeEvent(stripBdc(sdpcm.payload));
        if (ev) this.#onEvent(ev.type, ev.status, ev.data);
      } else if (sdpcm.channel === SdpcmChannel.data) {
        const frame = stripBdc(sdpcm.payload);
        try {
          if (decodeEthernet(frame).etherType === ETHERTYPE.broadcom) continue;
        } catch {
          continue;
        }
        if (this.#linkUp) this.link.onReceive?.(frame);
      }
    }
  }

  #onEvent(type: number, status: number, data: Uint8Array): void {
    if (type === WlcEvent.ESCAN_RESULT && this.#scan) {
      if (status === ESCAN_PARTIAL) {
        const bss = decodeEscanResult(data);
        if (bss) this.#scan.result(bss.ssid);
      } else this.#scan.done(status === 0 ? WifiStatus.SUCCESS : WifiStatus.FAIL);
    } else if (type === WlcEvent.SET_SSID && this.#join) {
      this.#join(status === 0 ? WifiStatus.SUCCESS : WifiStatus.FAIL);
    }
  }
}
