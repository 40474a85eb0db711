/** The emulated lab: boards sharing one virtual clock and one 802.15.4 medium. */
import type { Capture, Faults, Lab, SessionOptions } from "@tock-hil/board";
import type { BoardFaults } from "./board.ts";
import { EmulatedBoard, SUPPORTED_BOARD_TYPES } from "./board.ts";
import { PCAP_MEDIA_TYPE, encodePcap } from "./pcap.ts";
import type { PcapRecord } from "./pcap.ts";
import { createRng, hashString } from "./prng.ts";
import type { MediumFaults } from "./radio.ts";
import { Medium } from "./radio.ts";
import { Scheduler } from "./scheduler.ts";
import type { NetworkBoard } from "./boards/network-lab.ts";
import { NetworkEnvironment } from "./boards/network-lab.ts";

export type EmulatedBoardConfig = { name: string; type: string };
export type EmulatedLabOptions = { boards: EmulatedBoardConfig[] };

export type EmulatedLab = Lab & {
  /** nRF52840DKs and, for the network/IPC suites, the boards of `network` (issue 4). */
  readonly boards: readonly (EmulatedBoard | NetworkBoard)[];
  /** L2 segment, host peer, access points, and the Ethernet/WiFi/multi-kernel boards (issue 4). */
  readonly network: NetworkEnvironment;
  readonly scheduler: Scheduler;
  readonly medium: Medium;
  /** Looks a board up by name; throws if there is none. */
  board(name: string): EmulatedBoard;
};

function checkProbability(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new RangeError(`fault ${name} must be a probability in 0..1, got ${v}`);
  return v;
}

/** Checks the issue-3 faults and turns them into what the medium and the boards apply. */
export function resolveFaults(faults: Faults | undefined, sessionStartUs: number): { medium: MediumFaults; boards: BoardFaults } {
  const f = faults ?? {};
  const burst = f.burstLoss;
  const medium: MediumFaults = {
    loss: checkProbability("loss", f.loss),
    corruption: checkProbability("corruption", f.corruption),
    linkLoss: (f.linkLoss ?? []).map((l) => ({ ...l, loss: checkProbability("linkLoss.loss", l.loss) })),
    burstLoss: burst && {
      enterBad: checkProbability("burstLoss.enterBad", burst.enterBad),
      exitBad: checkProbability("burstLoss.exitBad", burst.exitBad),
      lossBad: burst.lossBad === undefined ? 1 : checkProbability("burstLoss.lossBad", burst.lossBad),
      lossGood: checkProbability("burstLoss.lossGood", burst.lossGood),
    },
    jamming: (f.jamming ?? []).map((j) => {
      if (!Number.isInteger(j.channel) || j.channel < 11 || j.channel > 26)
        throw new RangeError(`jamming channel must be 11..26, got ${j.channel}`);
      return {
        channel: j.channel,
        fromUs: sessionStartUs + (j.fromMs ?? 0) * 1000,
        untilUs: j.untilMs === undefined ? Number.POSITIVE_INFINITY : sessionStartUs + j.untilMs * 1000,
      };
    }),
  };
  for (const t of [...(f.boardHang ?? []), ...(f.kernelPanic ?? [])]) {
    if (!(t.afterMs >= 0) || t.target.length === 0) throw new RangeError(`board fault needs a target and afterMs >= 0`);
  }
  const boards: BoardFaults = {
    bootHang: f.bootHang ?? [],
    flashHang: f.flashHang ?? [],
    boardHang: f.boardHang ?? [],
    kernelPanic: f.kernelPanic ?? [],
    routerAbsent: f.routerAbsent ?? false,
    wrongNetworkKey: f.wrongNetworkKey ?? false,
  };
  return { medium, boards };
}

/** Names of the faults a session applies, for the session notes. */
function describeFaults(faults: Faults | undefined): string {
  const names = Object.entries(faults ?? {})
    .filter(([, v]) => v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => (typeof v === "number" ? `${k} ${v}` : k));
  return names.length > 0 ? names.join(", ") : "none";
}

export function createEmulatedLab(options: EmulatedLabOptions): EmulatedLab {
  const scheduler = new Scheduler();
  const medium = new Medium(scheduler);
  const names = new Set<string>();
  const network = new NetworkEnvironment(scheduler);
  const allBoards = options.boards.map((cfg) => {
    if (NetworkEnvironment.supports(cfg.type)) {
      if (names.has(cfg.name)) throw new Error(`duplicate board name ${cfg.name}`);
      names.add(cfg.name);
      return network.createBoard(cfg.name, cfg.type);
    }
    if (!(SUPPORTED_BOARD_TYPES as readonly string[]).includes(cfg.type)) {
      throw new Error(`board ${cfg.name}: type ${cfg.type} is not emulated (supported: ${SUPPORTED_BOARD_TYPES.join(", ")})`);
    }
    if (names.has(cfg.name)) throw new Error(`duplicate board name ${cfg.name}`);
    names.add(cfg.name);
    return new EmulatedBoard({ name: cfg.name, type: cfg.type, sched: scheduler, medium });
  });
  const boards = allBoards.filter((b): b is EmulatedBoard => b instanceof EmulatedBoard);
  let closed = false;
  // Per-channel recording of the current session: what a sniffer on each channel decoded.
  const captures = new Map<number, PcapRecord[]>();
  medium.addTap((f) => {
    if (f.collided) return;
    const list = captures.get(f.channel) ?? [];
    list.push({ timestampUs: f.startUs, data: f.psdu });
    captures.set(f.channel, list);
  });

  const applySeed = (seed: number, faults: Faults | undefined): void => {
    const resolved = resolveFaults(faults, scheduler.nowUs);
    // Independent streams per component, so adding a board does not perturb another board's backoffs.
    medium.configure(createRng(seed, hashString("medium")), resolved.medium);
    for (const b of boards) {
      b.radio.setRng(createRng(seed, hashString(`radio:${b.name}`)));
      b.configureSession(createRng(seed, hashString(`entropy:${b.name}`)), resolved.boards);
    }
  };
  applySeed(0, undefined);

  return {
    clock: scheduler.clock,
    boards: allBoards,
    network,
    scheduler,
    medium,
    board(name) {
      const b = boards.find((x) => x.name === name);
      if (!b) throw new Error(`no emulated board named ${name}`);
      return b;
    },
    async beginSession(session: SessionOptions) {
      if (closed) throw new Error("emulated lab is closed");
      if (!Number.isInteger(session.seed)) throw new RangeError(`seed must be an integer, got ${session.seed}`);
      for (const b of boards) await b.halt();
      applySeed(session.seed, session.faults);
      captures.clear();
      await network.haltAll();
      const networkNote = network.configure(createRng(session.seed, hashString("network")), session.faults);
      return {
        notes: [
          `emulated lab: seed ${session.seed}, faults: ${describeFaults(session.faults)}, clock at ${scheduler.clock.now()} ms`,
          networkNote,
        ],
      };
    },
    takeCaptures(): Capture[] {
      const out: Capture[] = [...captures.entries()]
        .sort(([a], [b]) => a - b)
        .map(([channel, records]) => ({ name: `ieee802154-ch${channel}.pcap`, mediaType: PCAP_MEDIA_TYPE, bytes: encodePcap(records) }));
      captures.clear();
      return [...out, ...network.takeCaptures()];
    },
    async endSession() {
      for (const b of boards) await b.halt();
      await network.haltAll();
    },
    async close() {
      closed = true;
      for (const b of boards) await b.halt();
      await network.haltAll();
    },
  };
}
