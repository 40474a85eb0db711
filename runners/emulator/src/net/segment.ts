/**
 * A virtual L2 segment (a switchless bridge, like a Linux bridge with the host's tap on it). Every port that
 * transmits puts real wire bytes (frame || FCS) on the segment; they arrive at every other port with carrier after
 * the 100 Mbit/s serialization time. Faults act on the wire: a lost frame never arrives, a corrupted one arrives
 * with a flipped bit and is dropped by the receiving MAC's FCS check. The segment records what was transmitted as
 * a pcap (LINKTYPE_ETHERNET, frames without FCS).
 */
import type { Rng } from "../prng.ts";
import { createRng } from "../prng.ts";
import type { Scheduler } from "../scheduler.ts";
import { appendFcs } from "./ethernet.ts";
import type { PcapRecord } from "../pcap.ts";
import { encodeEthernetPcap } from "./pcap.ts";

/** 100BASE-TX: 80 ns per byte, plus 8 bytes of preamble/SFD and a 12-byte inter-frame gap per frame. */
export const WIRE_NS_PER_BYTE = 80;
const PROPAGATION_US = 1;

export type SegmentFaults = {
  /** Probability that a frame is lost on its way to each receiver. */
  loss: number;
  /** Probability that a frame arrives at a receiver with one bit flipped. */
  corruption: number;
  /** Board cables unplugged: wired board ports have no carrier (infrastructure ports keep theirs). */
  linkDown: boolean;
};

export type PortKind = "board" | "infrastructure";

export type SegmentStats = { framesOnWire: number; framesDelivered: number; framesLost: number; framesCorrupted: number };

export class SegmentPort {
  readonly name: string;
  readonly kind: PortKind;
  /** Whether the device behind the port is powered and its PHY enabled. */
  enabled = true;
  onWire: ((wire: Uint8Array) => void) | undefined;
  readonly #segment: L2Segment;
  #busyUntilUs = 0;

  constructor(segment: L2Segment, name: string, kind: PortKind) {
    this.#segment = segment;
    this.name = name;
    this.kind = kind;
  }

  /** PHY link status as the MAC sees it. */
  get carrier(): boolean {
    return this.enabled && !(this.kind === "board" && this.#segment.faults.linkDown);
  }

  /**
   * Transmits a frame without FCS; the MAC appends it. Returns the virtual time (us) when the last bit left, or
   * undefined when there is no carrier (the frame goes nowhere).
   */
  transmit(frame: Uint8Array): number | undefined {
    if (!this.carrier) return undefined;
    const wire = appendFcs(frame);
    const sched = this.#segment.sched;
    const start = Math.max(sched.nowUs, this.#busyUntilUs);
    const end = start + Math.ceil(((Math.max(64, wire.length) + 20) * WIRE_NS_PER_BYTE) / 1000);
    this.#busyUntilUs = end;
    this.#segment.carry(this, wire, start, end);
    return end;
  }
}

export class L2Segment {
  readonly sched: Scheduler;
  readonly #ports: SegmentPort[] = [];
  faults: SegmentFaults = { loss: 0, corruption: 0, linkDown: false };
  #rng: Rng = createRng(0, 0);
  #capture: PcapRecord[] = [];
  stats: SegmentStats = { framesOnWire: 0, framesDelivered: 0, framesLost: 0, framesCorrupted: 0 };

  constructor(sched: Scheduler) {
    this.sched = sched;
  }

  configure(rng: Rng, faults: SegmentFaults): void {
    this.#rng = rng;
    this.faults = faults;
  }

  attach(name: string, kind: PortKind): SegmentPort {
    const port = new SegmentPort(this, name, kind);
    this.#ports.push(port);
    return port;
  }

  /** Called by a port: records the frame and schedules its arrival at every other port with carrier. */
  carry(from: SegmentPort, wire: Uint8Array, startUs: number, endUs: number): void {
    this.stats.framesOnWire++;
    this.#capture.push({ timestampUs: startUs, data: wire.slice(0, wire.length - 4) });
    for (const port of this.#ports) {
      if (port === from) continue;
      // Draw the fault decisions now, in port order, so a run depends only on the seed and the traffic.
      const lost = this.faults.loss > 0 && this.#rng.next() < this.faults.loss;
      const corrupt = !lost && this.faults.corruption > 0 && this.#rng.next() < this.faults.corruption;
      const bit = corrupt ? this.#rng.below(wire.length * 8) : 0;
      if (lost) {
        this.stats.framesLost++;
        continue;
      }
      this.sched.at(endUs + PROPAGATION_US, () => {
        if (!port.carrier || !port.onWire) return;
        const copy = wire.slice();
        if (corrupt) {
          copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          this.stats.framesCorrupted++;
        }
        this.stats.framesDelivered++;
        port.onWire(copy);
      });
    }
  }

  /** The frames transmitted since the last call, as a pcap file. */
  takeCapture(): Uint8Array {
    const records = this.#capture;
    this.#capture = [];
    return encodeEthernetPcap(records);
  }

  get capturedFrames(): number {
    return this.#capture.length;
  }
}
