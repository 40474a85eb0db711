/**
 * The lab's WiFi side: virtual access points (SSID, BSSID, channel, security, passphrase, RSSI) that run the
 * authenticator half of the WPA2 4-way handshake and bridge keyed stations onto the L2 segment, like a home AP
 * plugged into the lab switch. Stations are chip models; the air between them is modelled at frame level.
 */
import { createHash } from "node:crypto";
import type { Scheduler } from "../scheduler.ts";
import type { Mac } from "../net/ethernet.ts";
import { BROADCAST_MAC, decodeEthernet, fcsValid } from "../net/ethernet.ts";
import type { L2Segment, SegmentPort } from "../net/segment.ts";
import { KEY_INFO, RSN_IE, decodeEapolKey, derivePsk, derivePtk, encodeEapolKey, micValid, withMic } from "./wpa2.ts";

export type ApSecurity = "open" | "wpa2";
export type ApConfig = { ssid: string; bssid: Mac; channel: number; security: ApSecurity; passphrase: string | undefined; rssi: number };

export const LAB_SSID = "TockHIL";
export const LAB_PASSPHRASE = "tock-hil-wpa2-passphrase";

export const LAB_ACCESS_POINTS: readonly ApConfig[] = [
  { ssid: LAB_SSID, bssid: "02:00:00:00:10:01", channel: 6, security: "wpa2", passphrase: LAB_PASSPHRASE, rssi: -48 },
  { ssid: "TockHIL-Guest", bssid: "02:00:00:00:10:02", channel: 11, security: "open", passphrase: undefined, rssi: -61 },
];

/** Per-frame air time used for management and EAPOL exchanges (a few hundred bytes at 24 Mbit/s plus contention). */
const AIR_US = 400;
const HANDSHAKE_RETRY_MS = 1000;
const HANDSHAKE_TRIES = 3;
/** IEEE 802.11 reason code 15: 4-way handshake timeout. */
export const REASON_4WAY_TIMEOUT = 15;

/** The chip's view of an association. */
export type StationLink = {
  mac: Mac;
  eapol(frame: Uint8Array): void;
  /** A data frame (802.3 form, no FCS) from the AP to the station. */
  data(frame: Uint8Array): void;
  deauth(reason: number): void;
};

type StaState = {
  link: StationLink;
  keyed: boolean;
  aNonce: Uint8Array;
  replay: bigint;
  tries: number;
  micFailures: number;
  epoch: number;
};

export type ApStats = { micFailures: number; handshakesCompleted: number; framesBridged: number; deauths: number };

export class AccessPoint {
  readonly config: ApConfig;
  readonly port: SegmentPort;
  readonly #sched: Scheduler;
  #pmk: Uint8Array | undefined;
  readonly #stations = new Map<Mac, StaState>();
  #nonceCounter = 0;
  stats: ApStats = { micFailures: 0, handshakesCompleted: 0, framesBridged: 0, deauths: 0 };

  constructor(sched: Scheduler, segment: L2Segment, config: ApConfig) {
    this.#sched = sched;
    this.config = config;
    this.port = segment.attach(`ap-${config.ssid}`, "infrastructure");
    this.port.onWire = (wire) => {
      if (!fcsValid(wire)) return;
      const frame = wire.subarray(0, wire.length - 4);
      const dst = decodeEthernet(frame).dst;
      for (const [mac, s] of this.#stations) {
        if (s.keyed && (mac === dst || dst === BROADCAST_MAC))
          this.#sched.after(AIR_US, () => this.#stations.get(mac) === s && s.link.data(frame.slice()));
      }
    };
    this.setPassphrase(config.passphrase);
  }

  setPassphrase(passphrase: string | undefined): void {
    this.#pmk = this.config.security === "wpa2" && passphrase !== undefined ? derivePsk(passphrase, this.config.ssid) : undefined;
    this.#stations.clear();
  }

  /** Open System authentication + association, then (WPA2) message 1 of the 4-way handshake. */
  associate(link: StationLink): void {
    const s: StaState = {
      link,
      keyed: this.config.security === "open",
      aNonce: new Uint8Array(32),
      replay: 1n,
      tries: 0,
      micFailures: 0,
      epoch: 0,
    };
    this.#stations.set(link.mac, s);
    if (this.config.security === "wpa2") this.#sched.after(2 * AIR_US, () => this.#message1(s));
  }

  disassociate(mac: Mac): void {
    this.#stations.delete(mac);
  }

  isKeyed(mac: Mac): boolean {
    return this.#stations.get(mac)?.keyed ?? false;
  }

  #message1(s: StaState): void {
    if (this.#stations.get(s.link.mac) !== s || s.keyed) return;
    if (s.tries === HANDSHAKE_TRIES) {
      this.#stations.delete(s.link.mac);
      this.stats.deauths++;
      s.link.deauth(REASON_4WAY_TIMEOUT);
      return;
    }
    s.tries++;
    s.aNonce = new Uint8Array(createHash("sha256").update(`${this.config.bssid}/${s.link.mac}/${this.#nonceCounter++}`).digest());
    s.replay++;
    const epoch = ++s.epoch;
    s.link.eapol(
      encodeEapolKey({
        keyInfo: KEY_INFO.version2 | KEY_INFO.pairwise | KEY_INFO.ack,
        replayCounter: s.replay,
        nonce: s.aNonce,
        data: new Uint8Array(0),
      }),
    );
    this.#sched.after(HANDSHAKE_RETRY_MS * 1000, () => {
      if (s.epoch === epoch) this.#message1(s);
    });
  }

  /** EAPOL-Key frames from a station: message 2 (checked with our PMK) and message 4. */
  eapolFromStation(mac: Mac, frame: Uint8Array): void {
    const s = this.#stations.get(mac);
    const k = decodeEapolKey(frame);
    if (!s || !k || !this.#pmk) return;
    const ptk = derivePtk(this.#pmk, this.config.bssid, mac, s.aNonce, k.keyInfo & KEY_INFO.secure ? s.aNonce : k.nonce);
    if (!(k.keyInfo & KEY_INFO.secure)) {
      // Message 2: the MIC proves the station derived the same PMK, i.e. knows the passphrase.
      if (k.replayCounter !== s.replay || !micValid(ptk.kck, frame)) {
        this.stats.micFailures++;
        s.micFailures++;
        return;
      }
      (s as StaState & { sNonce?: Uint8Array }).sNonce = k.nonce;
      s.replay++;
      const m3 = encodeEapolKey({
        keyInfo: KEY_INFO.version2 | KEY_INFO.pairwise | KEY_INFO.install | KEY_INFO.ack | KEY_INFO.mic | KEY_INFO.secure,
        replayCounter: s.replay,
        nonce: s.aNonce,
        data: RSN_IE,
      });
      this.#sched.after(AIR_US, () => s.link.eapol(withMic(ptk.kck, m3)));
      return;
    }
    // Message 4.
    const sNonce = (s as StaState & { sNonce?: Uint8Array }).sNonce;
    if (!sNonce) return;
    const ptk4 = derivePtk(this.#pmk, this.config.bssid, mac, s.aNonce, sNonce);
    if (k.replayCounter !== s.replay || !micValid(ptk4.kck, frame)) {
      this.stats.micFailures++;
      return;
    }
    s.keyed = true;
    s.epoch++;
    this.stats.handshakesCompleted++;
  }

  /** A data frame from an associated station; bridged only once the port is authorized (keyed or open). */
  dataFromStation(mac: Mac, frame: Uint8Array): void {
    if (!this.#stations.get(mac)?.keyed) return;
    this.stats.framesBridged++;
    this.port.transmit(frame);
  }
}

export class WifiAir {
  readonly accessPoints: AccessPoint[];
  #down = false;

  constructor(sched: Scheduler, segment: L2Segment, configs: readonly ApConfig[] = LAB_ACCESS_POINTS) {
    this.accessPoints = configs.map((c) => new AccessPoint(sched, segment, c));
  }

  configure(options: { wrongPassphrase: boolean; apDown: boolean }): void {
    this.#down = options.apDown;
    for (const ap of this.accessPoints) {
      ap.port.enabled = !options.apDown;
      const p = ap.config.passphrase;
      ap.setPassphrase(p === undefined ? undefined : options.wrongPassphrase ? `${p}-rotated` : p);
    }
  }

  /** Access points a scan can hear. */
  visible(): AccessPoint[] {
    return this.#down ? [] : this.accessPoints;
  }
}
