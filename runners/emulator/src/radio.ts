/**
 * The shared 2.4 GHz 802.15.4 medium and an nRF52840-style radio attached to it.
 *
 * Medium: per-channel in-flight transmissions with real airtime. A radio hears a frame only if it was listening on
 * that channel for the whole frame; frames overlapping on a channel collide and are both lost. Session faults
 * apply per receiver per frame: `loss` drops the frame, `corruption` flips one bit of the received copy (the
 * receiver's CRC unit then flags it, nothing here marks it bad).
 *
 * Radio: reproduces the Tock nRF52840 driver's quirks (chips/nrf52/src/ieee802154_radio.rs behaviour as described
 * in the research notes): first CCA immediately with no initial backoff; on busy, backoff `rand & (2^BE - 1)` unit
 * periods with BE 3..5, and `EBUSY` after four busy CCAs; never waits for an ACK; sends a software ACK 192 us after
 * any frame with AR=1 and a good CRC, whoever it was addressed to (the radio is promiscuous).
 */
import { ackPsdu, airtimeUs, appendFcs, fcsValid } from "./frame.ts";
import type { Rng } from "./prng.ts";
import { createRng } from "./prng.ts";
import type { Scheduler } from "./scheduler.ts";

export const UNIT_BACKOFF_US = 320;
export const CCA_US = 128;
export const TURNAROUND_US = 192;
export const MIN_BE = 3;
export const MAX_BE = 5;
export const MAX_CCA_ATTEMPTS = 4;

/** Per-link loss entry: board names, "*" matches any. */
export type LinkLoss = { from: string; to: string; loss: number };
/** Gilbert-Elliott parameters (per-frame transition probabilities and per-state loss). */
export type BurstLoss = { enterBad: number; exitBad: number; lossBad: number; lossGood: number };
/** A jammed channel over an absolute window of virtual time (us; `untilUs` may be Infinity). */
export type JamWindow = { channel: number; fromUs: number; untilUs: number };

export type MediumFaults = {
  loss: number;
  corruption: number;
  linkLoss?: LinkLoss[] | undefined;
  burstLoss?: BurstLoss | undefined;
  jamming?: JamWindow[] | undefined;
};

type Transmission = {
  sender: Radio;
  channel: number;
  startUs: number;
  endUs: number;
  psdu: Uint8Array;
  collided: boolean;
  listeners: Radio[];
};

/** One frame as it went on the air; kept for tests and traces. */
export type AirFrame = { channel: number; startUs: number; endUs: number; sender: string; psdu: Uint8Array; collided: boolean };

export class Medium {
  readonly #sched: Scheduler;
  readonly #radios: Radio[] = [];
  readonly #active = new Map<number, Transmission[]>();
  #rng: Rng = createRng(0, 0);
  #faults: MediumFaults = { loss: 0, corruption: 0 };
  /** Gilbert-Elliott state per directed link ("sender>receiver"): true while bad. */
  readonly #linkBad = new Map<string, boolean>();
  readonly #taps = new Set<(frame: AirFrame) => void>();
  /** Optional tap on every frame that finishes on the air (a sniffer). */
  onAir: ((frame: AirFrame) => void) | undefined;

  constructor(sched: Scheduler) {
    this.#sched = sched;
  }

  configure(rng: Rng, faults: MediumFaults): void {
    this.#rng = rng;
    this.#faults = faults;
    // Every link starts a session in the good state, so a session replays identically whatever came before.
    this.#linkBad.clear();
  }

  /** Adds a listener for every frame that finishes on the air (recorders); returns its removal. */
  addTap(tap: (frame: AirFrame) => void): () => void {
    this.#taps.add(tap);
    return () => {
      this.#taps.delete(tap);
    };
  }

  /** True while a jamming fault covers `channel` at `atUs`. */
  jammed(channel: number, atUs: number = this.#sched.nowUs): boolean {
    return (this.#faults.jamming ?? []).some((j) => j.channel === channel && atUs >= j.fromUs && atUs < j.untilUs);
  }

  #jammedDuring(channel: number, fromUs: number, untilUs: number): boolean {
    return (this.#faults.jamming ?? []).some((j) => j.channel === channel && j.fromUs < untilUs && j.untilUs > fromUs);
  }

  /** Decides, drawing from the session's stream, whether the copy of a frame from `from` to `to` is lost. */
  #lost(from: string, to: string): boolean {
    const f = this.#faults;
    let lost = false;
    // Draw order is fixed (global, link, burst) so that enabling one fault does not reshuffle the others' draws.
    if (f.loss > 0 && this.#rng.next() < f.loss) lost = true;
    const link = (f.linkLoss ?? [])
      .filter((l) => (l.from === "*" || l.from === from) && (l.to === "*" || l.to === to))
      .reduce((m, l) => Math.max(m, l.loss), 0);
    if (link > 0 && this.#rng.next() < link) lost = true;
    const burst = f.burstLoss;
    if (burst) {
      const key = `${from}>${to}`;
      let bad = this.#linkBad.get(key) ?? false;
      bad = bad ? this.#rng.next() >= burst.exitBad : this.#rng.next() < burst.enterBad;
      this.#linkBad.set(key, bad);
      const p = bad ? burst.lossBad : burst.lossGood;
      if (p > 0 && this.#rng.next() < p) lost = true;
    }
    return lost;
  }

  attach(radio: Radio): void {
    this.#radios.push(radio);
  }

  /** Energy detect: true while any transmission is on the air on `channel`. */
  energy(channel: number): boolean {
    return (this.#active.get(channel)?.length ?? 0) > 0 || this.jammed(channel);
  }

  /** Puts a PSDU (FCS included) on the air now; returns its end time. */
  transmit(sender: Radio, psdu: Uint8Array): number {
    const now = this.#sched.nowUs;
    const tx: Transmission = {
      sender,
      channel: sender.channel,
      startUs: now,
      endUs: now + airtimeUs(psdu.length),
      psdu: psdu.slice(),
      collided: false,
      listeners: this.#radios.filter((r) => r !== sender && r.listening && r.channel === sender.channel),
    };
    const onChannel = this.#active.get(tx.channel) ?? [];
    for (const other of onChannel) {
      other.collided = true;
      tx.collided = true;
    }
    onChannel.push(tx);
    this.#active.set(tx.channel, onChannel);
    this.#sched.at(tx.endUs, () => this.#finish(tx));
    return tx.endUs;
  }

  #finish(tx: Transmission): void {
    const onChannel = this.#active.get(tx.channel) ?? [];
    onChannel.splice(onChannel.indexOf(tx), 1);
    // Interference over any part of the frame destroys it for every receiver, like a collision.
    if (this.#jammedDuring(tx.channel, tx.startUs, tx.endUs)) tx.collided = true;
    const air: AirFrame = {
      channel: tx.channel,
      startUs: tx.startUs,
      endUs: tx.endUs,
      sender: tx.sender.name,
      psdu: tx.psdu,
      collided: tx.collided,
    };
    this.onAir?.(air);
    for (const tap of this.#taps) tap(air);
    if (tx.collided) return;
    for (const r of tx.listeners) {
      // The receiver must have stayed tuned and listening from the start of the frame to its end.
      if (!r.listening || r.channel !== tx.channel || r.listeningSinceUs > tx.startUs) continue;
      if (this.#lost(tx.sender.name, r.name)) continue;
      const copy = tx.psdu.slice();
      if (this.#faults.corruption > 0 && this.#rng.next() < this.#faults.corruption) {
        const bit = this.#rng.below(copy.length * 8);
        copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      }
      r.deliver(copy);
    }
  }
}

export type TxStatus = "ok" | "busy" | "off";

export type RadioStats = {
  framesSent: number;
  acksSent: number;
  framesReceived: number;
  crcErrors: number;
  ccaBusy: number;
  channelAccessFailures: number;
};

export class Radio {
  readonly name: string;
  readonly #sched: Scheduler;
  readonly #medium: Medium;
  #rng: Rng = createRng(0, 0);
  #on = false;
  #transmitting = false;
  #csmaBusy = false;
  #generation = 0;
  channel = 26;
  listeningSinceUs = 0;
  /** Whether the driver ACKs frames with AR=1 (Tock's nRF driver always does; sniffer firmware never transmits). */
  autoAck = true;
  /** Called for every frame the radio received, CRC good or not (the driver reports `crc_valid` upward). */
  onReceive: ((psdu: Uint8Array, crcValid: boolean) => void) | undefined;
  stats: RadioStats = { framesSent: 0, acksSent: 0, framesReceived: 0, crcErrors: 0, ccaBusy: 0, channelAccessFailures: 0 };

  constructor(name: string, sched: Scheduler, medium: Medium) {
    this.name = name;
    this.#sched = sched;
    this.#medium = medium;
    medium.attach(this);
  }

  setRng(rng: Rng): void {
    this.#rng = rng;
  }

  get isOn(): boolean {
    return this.#on;
  }

  /** In RX (CCA keeps the receiver on, so a radio doing CCA still listens). */
  get listening(): boolean {
    return this.#on && !this.#transmitting;
  }

  powerOn(): void {
    if (this.#on) return;
    this.#on = true;
    this.#transmitting = false;
    this.listeningSinceUs = this.#sched.nowUs;
  }

  /** Radio off: pending CSMA and ACKs are abandoned; a frame already on the air finishes there. */
  powerOff(): void {
    this.#on = false;
    this.#transmitting = false;
    this.#csmaBusy = false;
    this.#generation++;
  }

  /** Sends MHR+payload (the CRC unit appends the FCS) with the nRF CSMA procedure; `done` gets the outcome. */
  transmit(frame: Uint8Array, done: (status: TxStatus) => void): void {
    if (!this.#on) return done("off");
    if (this.#csmaBusy) return done("busy");
    this.#csmaBusy = true;
    const gen = this.#generation;
    const psdu = appendFcs(frame);
    let attempts = 0;
    let be = MIN_BE;
    const cca = (): void => {
      const busyAtStart = this.#medium.energy(this.channel);
      this.#sched.after(CCA_US, () => {
        if (gen !== this.#generation) return;
        const busy = busyAtStart || this.#medium.energy(this.channel) || this.#transmitting;
        if (!busy) {
          this.#transmitting = true;
          this.stats.framesSent++;
          const end = this.#medium.transmit(this, psdu);
          this.#sched.at(end, () => {
            if (gen !== this.#generation) return;
            this.#backToRx();
            this.#csmaBusy = false;
            done("ok");
          });
          return;
        }
        this.stats.ccaBusy++;
        attempts++;
        if (attempts >= MAX_CCA_ATTEMPTS) {
          this.stats.channelAccessFailures++;
          this.#csmaBusy = false;
          done("busy");
          return;
        }
        const backoff = (this.#rng.nextU32() & ((1 << be) - 1)) * UNIT_BACKOFF_US;
        be = Math.min(be + 1, MAX_BE);
        this.#sched.after(backoff, () => {
          if (gen === this.#generation) cca();
        });
      });
    };
    cca();
  }

  /** Called by the medium at the end of a frame this radio heard. */
  deliver(psdu: Uint8Array): void {
    const crcValid = fcsValid(psdu);
    this.stats.framesReceived++;
    if (!crcValid) this.stats.crcErrors++;
    const fcf0 = psdu[0] ?? 0;
    const isAck = (fcf0 & 0x7) === 2;
    if (this.autoAck && crcValid && !isAck && (fcf0 & 0x20) !== 0) this.#sendAck(psdu[2] ?? 0);
    this.onReceive?.(psdu, crcValid);
  }

  #sendAck(seq: number): void {
    const gen = this.#generation;
    this.#sched.after(TURNAROUND_US, () => {
      if (gen !== this.#generation || !this.#on || this.#transmitting) return;
      this.#transmitting = true;
      this.stats.acksSent++;
      const end = this.#medium.transmit(this, ackPsdu(seq));
      this.#sched.at(end, () => {
        if (gen === this.#generation) this.#backToRx();
      });
    });
  }

  #backToRx(): void {
    this.#transmitting = false;
    this.listeningSinceUs = this.#sched.nowUs;
  }
}
