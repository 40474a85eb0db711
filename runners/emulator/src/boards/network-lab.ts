/**
 * The parts of the emulated lab that issue 4's suites need besides boards: one L2 segment with the runner host on
 * it (gateway, DHCP, echo services, HTTP prober) and the WiFi access points bridged onto it. `lab.ts` creates one
 * of these per lab and asks it to build the board types it knows; session faults are applied here.
 */
import type { Board, Capture, Faults } from "@tock-hil/board";
import type { Rng } from "../prng.ts";
import type { Scheduler } from "../scheduler.ts";
import { HostPeer } from "../net/host-peer.ts";
import { PCAP_MEDIA_TYPE } from "../net/pcap.ts";
import { L2Segment } from "../net/segment.ts";
import { EthernetBoard } from "./ethernet-board.ts";
import { MULTIKERNEL, NETWORK_BOARD_TYPES, NUCLEO_F429ZI, PICO_W, QEMU_RV32_VIRT } from "./firmware.ts";
import { MultiKernelBoard } from "./multikernel-board.ts";
import { PicoWBoard } from "./pico-w-board.ts";
import { WifiAir } from "../wifi/access-point.ts";

export type NetworkBoard = EthernetBoard | PicoWBoard | MultiKernelBoard;

function probability(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new RangeError(`fault ${name} must be a probability in 0..1, got ${v}`);
  return v;
}

export class NetworkEnvironment {
  readonly segment: L2Segment;
  readonly host: HostPeer;
  readonly air: WifiAir;
  readonly #sched: Scheduler;
  readonly #boards: NetworkBoard[] = [];
  #faults: Faults = {};

  constructor(sched: Scheduler) {
    this.#sched = sched;
    this.segment = new L2Segment(sched);
    this.host = new HostPeer(sched, this.segment);
    this.air = new WifiAir(sched, this.segment);
  }

  static supports(type: string): boolean {
    return (NETWORK_BOARD_TYPES as readonly string[]).includes(type);
  }

  get faults(): Faults {
    return this.#faults;
  }

  createBoard(name: string, type: string): NetworkBoard {
    let board: NetworkBoard;
    if (type === NUCLEO_F429ZI || type === QEMU_RV32_VIRT)
      board = new EthernetBoard({ name, type, sched: this.#sched, segment: this.segment, flashHang: () => this.#faults.flashHang ?? [] });
    else if (type === PICO_W) board = new PicoWBoard({ name, sched: this.#sched, air: this.air, faults: () => this.#faults });
    else if (type === MULTIKERNEL) board = new MultiKernelBoard({ name, sched: this.#sched, faults: () => this.#faults });
    else throw new Error(`board ${name}: type ${type} is not a network board`);
    this.#boards.push(board);
    return board;
  }

  /** Applies a session's seed stream and faults; returns a note for the session log. */
  configure(rng: Rng, faults: Faults | undefined): string {
    this.#faults = faults ?? {};
    const f = this.#faults;
    const loss = probability("ethernetLoss", f.ethernetLoss);
    const corruption = probability("ethernetCorruption", f.ethernetCorruption);
    this.segment.configure(rng, { loss, corruption, linkDown: f.ethernetLinkDown === true });
    this.host.reset();
    this.host.dhcp.silent = f.dhcpSilent === true;
    this.air.configure({ wrongPassphrase: f.wifiWrongPassphrase === true, apDown: f.wifiApDown === true });
    this.segment.takeCapture();
    const active = Object.entries(f).filter(([k, v]) => NETWORK_FAULTS.includes(k) && v !== undefined && v !== false);
    return (
      `network: L2 segment 192.168.1.0/24 with host 192.168.1.1, ${this.air.accessPoints.length} access point(s)` +
      (active.length ? `; faults ${active.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")}` : "")
    );
  }

  /** The segment's pcap since the last call (LINKTYPE_ETHERNET, frames without FCS); none when nothing was sent. */
  takeCaptures(): Capture[] {
    if (this.segment.capturedFrames === 0) return [];
    return [{ name: "ethernet-segment.pcap", mediaType: PCAP_MEDIA_TYPE, bytes: this.segment.takeCapture() }];
  }

  async haltAll(): Promise<void> {
    for (const b of this.#boards) await b.halt();
  }

  get boards(): readonly Board[] {
    return this.#boards;
  }
}

export const NETWORK_FAULTS: readonly string[] = [
  "ethernetLoss",
  "ethernetCorruption",
  "ethernetLinkDown",
  "wifiWrongPassphrase",
  "wifiFirmwareMissing",
  "wifiApDown",
  "dhcpSilent",
  "ipcSilentService",
  "ipcRemotePanic",
];
