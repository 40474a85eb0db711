/**
 * A Thread node: the part of OpenThread the suites observe, driven by frames and timers through a small port so
 * the same code runs inside a Tock app model (libopenthread over the raw 15.4 driver) and inside the router
 * firmware (ot-cli FTD).
 *
 * Attach (child side) follows MLE with OpenThread's timers: start delay 1..750 ms, Parent Request to routers
 * (wait 750 ms), then to routers + REEDs (wait 1250 ms), Child ID Request, Child ID Response within 1250 ms,
 * then exponential backoff (from 251 ms, capped at ATTACH_BACKOFF_MAX_MS) before the next attempt. Every
 * message is sealed with the MLE key, so a node with another network key never gets past the first step.
 *
 * Leader side: a started FTD alone on its channel/PAN becomes leader after LEADER_FORM_MS, answers Parent Requests
 * after a random delay of up to 500 ms, checks the echoed challenge before admitting a child, and keeps a child
 * table with timeouts.
 *
 * Liveness (simplified, documented in docs/faults.md): a child sends a Child Update Request every
 * KEEPALIVE_MS; a parent that does not know the child answers with Status = error (e.g. after it rebooted), and
 * three unanswered requests also mean the parent is gone. Either way the child detaches and re-attaches.
 */
import type { Rng } from "../prng.ts";
import type { Datagram, ThreadDestination, ThreadKeys } from "./wire.ts";
import {
  KIND_DATA,
  KIND_MLE,
  Mle,
  Tlv,
  decodeDatagram,
  decodeMle,
  deriveKeys,
  encodeDatagram,
  encodeMle,
  ip6Equal,
  isMulticast,
  linkLocal,
  meshLocal,
  openFrame,
  rlocAddress,
  sealFrame,
} from "./wire.ts";

export type Role = "disabled" | "detached" | "child" | "router" | "leader";

export const ATTACH_START_MAX_MS = 750;
export const PARENT_REQUEST_ROUTER_MS = 750;
export const PARENT_REQUEST_REED_MS = 1250;
export const CHILD_ID_RESPONSE_MS = 1250;
export const ATTACH_BACKOFF_MIN_MS = 251;
/** OpenThread caps at 20 minutes; the model caps lower so a test window sees several attempts. */
export const ATTACH_BACKOFF_MAX_MS = 8000;
export const PARENT_RESPONSE_MAX_DELAY_MS = 500;
/** Time a lone FTD spends detached (its own Parent Requests going unanswered) before forming a partition. */
export const LEADER_FORM_MS = 2000;
export const KEEPALIVE_MS = 5000;
export const KEEPALIVE_REPLY_MS = 1000;
export const KEEPALIVE_MAX_MISSES = 3;
export const CHILD_TIMEOUT_S = 60;

export type ThreadPort = {
  now(): number;
  /** Runs `fn` after `ms`; returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
  /** Queues MHR + payload for transmission (the radio adds the FCS). */
  transmit(frame: Uint8Array): void;
  rng: Rng;
  onRoleChange?(role: Role): void;
};

export type ThreadConfig = { networkKey: Uint8Array; panId: number; channel: number; extAddr: Uint8Array; ftd: boolean };

export type ChildEntry = {
  id: number;
  rloc16: number;
  ext: Uint8Array;
  mleid: Uint8Array | undefined;
  timeout: number;
  lastHeardMs: number;
};

const u16 = (v: number): Uint8Array => Uint8Array.of((v >> 8) & 0xff, v & 0xff);
const readU16 = (b: Uint8Array | undefined): number | undefined => (b && b.length >= 2 ? ((b[0] ?? 0) << 8) | (b[1] ?? 0) : undefined);
const bytesEqual = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);

export class ThreadNode {
  readonly #port: ThreadPort;
  #config: ThreadConfig;
  #keys: ThreadKeys;
  #role: Role = "disabled";
  #seq = 0;
  #counter = 0;
  readonly #mleidIid: Uint8Array;
  #rloc16 = 0xfffe;
  #timers = new Set<() => void>();
  // Child side.
  #challenge: Uint8Array | undefined;
  #candidate: { ext: Uint8Array; challenge: Uint8Array; rloc16: number } | undefined;
  #attachPhase: "idle" | "parent-request" | "child-id" = "idle";
  #backoffMs = ATTACH_BACKOFF_MIN_MS;
  #parent: { ext: Uint8Array; rloc16: number } | undefined;
  #keepaliveMisses = 0;
  #keepaliveAnswered = true;
  // Leader side.
  #routerId = 0;
  #partitionId = 0;
  readonly #children: ChildEntry[] = [];
  readonly #pendingChallenges = new Map<string, Uint8Array>();
  // Datagram handlers.
  readonly #udp = new Map<number, (d: Extract<Datagram, { proto: "udp" }>) => void>();
  #echoReply: ((d: Extract<Datagram, { proto: "icmp" }>) => void) | undefined;
  /** Counters for cross-checks. */
  stats = { micFailures: 0, framesIn: 0, framesOut: 0 };

  constructor(port: ThreadPort, config: ThreadConfig) {
    this.#port = port;
    this.#config = config;
    this.#keys = deriveKeys(config.networkKey);
    this.#mleidIid = Uint8Array.from({ length: 8 }, () => port.rng.nextU32() & 0xff);
  }

  get role(): Role {
    return this.#role;
  }
  get rloc16(): number {
    return this.#rloc16;
  }
  get config(): ThreadConfig {
    return this.#config;
  }
  get children(): readonly ChildEntry[] {
    return this.#children;
  }
  get extAddr(): Uint8Array {
    return this.#config.extAddr;
  }
  get mleid(): Uint8Array {
    return meshLocal(this.#mleidIid);
  }

  /** Unicast addresses as `ipaddr` lists them: ML-EID, link-local, then RLOC once attached. */
  addresses(): Uint8Array[] {
    const out = [this.mleid, linkLocal(this.#config.extAddr)];
    if (this.#role !== "disabled" && this.#role !== "detached") out.push(rlocAddress(this.#rloc16));
    return out;
  }

  /** Changes network parameters (dataset commit); a running node restarts with them. */
  reconfigure(config: Partial<ThreadConfig>): void {
    const wasUp = this.#role !== "disabled";
    if (wasUp) this.stop();
    this.#config = { ...this.#config, ...config };
    this.#keys = deriveKeys(this.#config.networkKey);
    if (wasUp) this.start();
  }

  start(): void {
    if (this.#role !== "disabled") return;
    this.#setRole("detached");
    if (this.#config.ftd) this.#later(LEADER_FORM_MS, () => this.#becomeLeader());
    else this.#later(1 + this.#port.rng.below(ATTACH_START_MAX_MS), () => this.#attach());
  }

  stop(): void {
    for (const cancel of this.#timers) cancel();
    this.#timers.clear();
    this.#children.length = 0;
    this.#parent = undefined;
    this.#attachPhase = "idle";
    if (this.#role !== "disabled") this.#setRole("disabled");
  }

  udpBind(port: number, handler: (d: Extract<Datagram, { proto: "udp" }>) => void): void {
    this.#udp.set(port, handler);
  }

  udpUnbind(port: number): void {
    this.#udp.delete(port);
  }

  onEchoReply(handler: ((d: Extract<Datagram, { proto: "icmp" }>) => void) | undefined): void {
    this.#echoReply = handler;
  }

  /** Sends a UDP datagram; false when there is no route (not attached / unknown destination) or it is too big. */
  udpSend(dst: Uint8Array, dstPort: number, srcPort: number, payload: Uint8Array): boolean {
    return this.#sendDatagram({ proto: "udp", src: this.#sourceFor(dst), dst, srcPort, dstPort, payload });
  }

  echoRequest(dst: Uint8Array, id: number, seq: number, data: Uint8Array): boolean {
    return this.#sendDatagram({ proto: "icmp", src: this.#sourceFor(dst), dst, type: 128, id, seq, data, hopLimit: 64 });
  }

  // --- frames ---------------------------------------------------------------------------------------------

  /** A frame from the radio (FCS already checked and stripped). */
  onFrame(bytes: Uint8Array): void {
    if (this.#role === "disabled") return;
    const opened = openFrame(bytes, this.#keys);
    if (!opened) return;
    const { frame } = opened;
    // OpenThread filters on PAN and destination itself (the radio below is promiscuous).
    if (frame.dstPan !== this.#config.panId) return;
    const dst = frame.dst;
    const forUs =
      (dst.mode === "short" && (dst.value === 0xffff || dst.value === this.#rloc16)) ||
      (dst.mode === "extended" && bytesEqual(dst.value, this.#config.extAddr));
    if (!forUs) return;
    this.stats.framesIn++;
    if (!opened.plaintext) {
      // MIC failure: another key (or damage); dropped silently, as OpenThread does.
      this.stats.micFailures++;
      return;
    }
    if (opened.kind === KIND_MLE) {
      const msg = decodeMle(opened.plaintext);
      if (msg) this.#onMle(opened.srcExt, msg.command, msg.tlvs);
    } else if (opened.kind === KIND_DATA) {
      const d = decodeDatagram(opened.plaintext);
      if (d) this.#onDatagram(opened.srcExt, d);
    }
  }

  #send(dst: ThreadDestination, kind: number, plaintext: Uint8Array): boolean {
    let frame: Uint8Array;
    try {
      frame = sealFrame({
        seq: this.#seq,
        pan: this.#config.panId,
        srcExt: this.#config.extAddr,
        dst,
        kind,
        counter: this.#counter,
        keys: this.#keys,
        plaintext,
      });
    } catch (err) {
      if (err instanceof RangeError) return false;
      throw err;
    }
    this.#seq = (this.#seq + 1) & 0xff;
    this.#counter = (this.#counter + 1) >>> 0;
    this.stats.framesOut++;
    this.#port.transmit(frame);
    return true;
  }

  #sendMle(dst: ThreadDestination, command: number, tlvs: [number, Uint8Array][]): void {
    this.#send(dst, KIND_MLE, encodeMle({ command, tlvs: new Map(tlvs) }));
  }

  #later(ms: number, fn: () => void): () => void {
    const cancel = this.#port.setTimer(ms, () => {
      this.#timers.delete(cancel);
      fn();
    });
    this.#timers.add(cancel);
    return () => {
      cancel();
      this.#timers.delete(cancel);
    };
  }

  #setRole(role: Role): void {
    if (this.#role === role) return;
    this.#role = role;
    this.#port.onRoleChange?.(role);
  }

  #random(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.#port.rng.nextU32() & 0xff);
  }

  #leaderData(): Uint8Array {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(0, this.#partitionId);
    b[4] = 64; // weighting
    b[5] = 1; // data version
    b[6] = 1; // stable data version
    b[7] = this.#routerId;
    return b;
  }

  // --- child: attach ----------------------------------------------------------------------------------------

  #attach(): void {
    if (this.#role !== "detached") return;
    this.#attachPhase = "parent-request";
    this.#candidate = undefined;
    this.#sendParentRequest(0x80, PARENT_REQUEST_ROUTER_MS, () => {
      if (this.#candidate) return this.#requestChildId();
      this.#sendParentRequest(0xc0, PARENT_REQUEST_REED_MS, () => {
        if (this.#candidate) return this.#requestChildId();
        this.#attachFailed();
      });
    });
  }

  #sendParentRequest(scanMask: number, waitMs: number, then: () => void): void {
    this.#challenge = this.#random(8);
    this.#sendMle({ broadcast: true }, Mle.parentRequest, [
      [Tlv.mode, Uint8Array.of(0x0f)],
      [Tlv.challenge, this.#challenge],
      [Tlv.scanMask, Uint8Array.of(scanMask)],
      [Tlv.version, u16(4)],
    ]);
    this.#later(waitMs, then);
  }

  #requestChildId(): void {
    const c = this.#candidate;
    if (!c) return this.#attachFailed();
    this.#attachPhase = "child-id";
    this.#sendMle({ broadcast: false, ext: c.ext }, Mle.childIdRequest, [
      [Tlv.response, c.challenge],
      [Tlv.mode, Uint8Array.of(0x0f)],
      [Tlv.timeout, Uint8Array.of(0, 0, 0, CHILD_TIMEOUT_S)],
      [Tlv.version, u16(4)],
      [Tlv.addressRegistration, this.mleid],
    ]);
    const candidate = c;
    this.#later(CHILD_ID_RESPONSE_MS, () => {
      if (this.#role === "detached" && this.#attachPhase === "child-id" && this.#candidate === candidate) this.#attachFailed();
    });
  }

  #attachFailed(): void {
    this.#attachPhase = "idle";
    this.#candidate = undefined;
    const delay = this.#backoffMs + this.#port.rng.below(this.#backoffMs);
    this.#backoffMs = Math.min(this.#backoffMs * 2, ATTACH_BACKOFF_MAX_MS);
    this.#later(delay, () => this.#attach());
  }

  #attached(parentExt: Uint8Array, parentRloc: number, rloc16: number): void {
    this.#attachPhase = "idle";
    this.#candidate = undefined;
    this.#backoffMs = ATTACH_BACKOFF_MIN_MS;
    this.#parent = { ext: parentExt, rloc16: parentRloc };
    this.#rloc16 = rloc16;
    this.#keepaliveMisses = 0;
    this.#keepaliveAnswered = true;
    this.#setRole("child");
    this.#later(KEEPALIVE_MS, () => this.#keepalive());
  }

  #detach(): void {
    for (const cancel of this.#timers) cancel();
    this.#timers.clear();
    this.#parent = undefined;
    this.#rloc16 = 0xfffe;
    this.#setRole("detached");
    this.#later(1 + this.#port.rng.below(ATTACH_START_MAX_MS), () => this.#attach());
  }

  #keepalive(): void {
    const parent = this.#parent;
    if (this.#role !== "child" || !parent) return;
    this.#keepaliveAnswered = false;
    this.#sendMle({ broadcast: false, ext: parent.ext }, Mle.childUpdateRequest, [
      [Tlv.sourceAddress, u16(this.#rloc16)],
      [Tlv.mode, Uint8Array.of(0x0f)],
      [Tlv.timeout, Uint8Array.of(0, 0, 0, CHILD_TIMEOUT_S)],
    ]);
    this.#later(KEEPALIVE_REPLY_MS, () => {
      if (this.#role !== "child") return;
      if (!this.#keepaliveAnswered && ++this.#keepaliveMisses >= KEEPALIVE_MAX_MISSES) return this.#detach();
      this.#later(KEEPALIVE_MS - KEEPALIVE_REPLY_MS, () => this.#keepalive());
    });
  }

  // --- leader ---------------------------------------------------------------------------------------------

  #becomeLeader(): void {
    if (this.#role !== "detached") return;
    this.#routerId = this.#port.rng.below(63);
    this.#partitionId = this.#port.rng.nextU32();
    this.#rloc16 = this.#routerId << 10;
    this.#setRole("leader");
    this.#later(1000, () => this.#expireChildren());
  }

  #expireChildren(): void {
    const now = this.#port.now();
    for (let i = this.#children.length - 1; i >= 0; i--) {
      const c = this.#children[i];
      if (c && now - c.lastHeardMs > c.timeout * 1000) this.#children.splice(i, 1);
    }
    this.#later(1000, () => this.#expireChildren());
  }

  #isParent(): boolean {
    return this.#role === "leader" || this.#role === "router";
  }

  #onMle(src: Uint8Array, command: number, tlvs: Map<number, Uint8Array>): void {
    switch (command) {
      case Mle.parentRequest: {
        const challenge = tlvs.get(Tlv.challenge);
        if (!this.#isParent() || !challenge) return;
        const mine = this.#random(8);
        this.#pendingChallenges.set(Buffer.from(src).toString("hex"), mine);
        this.#later(this.#port.rng.below(PARENT_RESPONSE_MAX_DELAY_MS), () => {
          if (!this.#isParent()) return;
          this.#sendMle({ broadcast: false, ext: src }, Mle.parentResponse, [
            [Tlv.sourceAddress, u16(this.#rloc16)],
            [Tlv.response, challenge],
            [Tlv.challenge, mine],
            [Tlv.leaderData, this.#leaderData()],
            [Tlv.version, u16(4)],
          ]);
        });
        return;
      }
      case Mle.parentResponse: {
        if (this.#role !== "detached" || this.#attachPhase !== "parent-request" || this.#candidate) return;
        const rloc = readU16(tlvs.get(Tlv.sourceAddress));
        const challenge = tlvs.get(Tlv.challenge);
        // Only a response that echoes our current challenge counts (replays and stale responses do not).
        if (!bytesEqual(tlvs.get(Tlv.response), this.#challenge) || rloc === undefined || !challenge) return;
        this.#candidate = { ext: src.slice(), challenge, rloc16: rloc };
        return;
      }
      case Mle.childIdRequest: {
        const key = Buffer.from(src).toString("hex");
        const expected = this.#pendingChallenges.get(key);
        if (!this.#isParent() || !expected || !bytesEqual(tlvs.get(Tlv.response), expected)) return;
        this.#pendingChallenges.delete(key);
        let child = this.#children.find((c) => bytesEqual(c.ext, src));
        if (!child) {
          let id = 1;
          while (this.#children.some((c) => c.id === id)) id++;
          child = { id, rloc16: (this.#routerId << 10) | id, ext: src.slice(), mleid: undefined, timeout: CHILD_TIMEOUT_S, lastHeardMs: 0 };
          this.#children.push(child);
        }
        const t = tlvs.get(Tlv.timeout);
        if (t && t.length === 4) child.timeout = new DataView(t.buffer, t.byteOffset, 4).getUint32(0);
        child.mleid = tlvs.get(Tlv.addressRegistration);
        child.lastHeardMs = this.#port.now();
        this.#sendMle({ broadcast: false, ext: src }, Mle.childIdResponse, [
          [Tlv.sourceAddress, u16(this.#rloc16)],
          [Tlv.address16, u16(child.rloc16)],
          [Tlv.leaderData, this.#leaderData()],
        ]);
        return;
      }
      case Mle.childIdResponse: {
        const c = this.#candidate;
        const rloc = readU16(tlvs.get(Tlv.address16));
        if (this.#role !== "detached" || this.#attachPhase !== "child-id" || !c || !bytesEqual(c.ext, src) || rloc === undefined) return;
        this.#attached(src.slice(), c.rloc16, rloc);
        return;
      }
      case Mle.childUpdateRequest: {
        if (!this.#isParent()) return;
        const child = this.#children.find((c) => bytesEqual(c.ext, src));
        if (child) child.lastHeardMs = this.#port.now();
        this.#sendMle(
          { broadcast: false, ext: src },
          Mle.childUpdateResponse,
          child
            ? [
                [Tlv.sourceAddress, u16(this.#rloc16)],
                [Tlv.address16, u16(child.rloc16)],
              ]
            : [[Tlv.status, Uint8Array.of(1)]],
        );
        return;
      }
      case Mle.childUpdateResponse: {
        if (this.#role !== "child" || !this.#parent || !bytesEqual(this.#parent.ext, src)) return;
        if (tlvs.has(Tlv.status)) return this.#detach();
        this.#keepaliveAnswered = true;
        this.#keepaliveMisses = 0;
        return;
      }
      default:
        return;
    }
  }

  // --- datagrams --------------------------------------------------------------------------------------------

  #ownsAddress(a: Uint8Array): boolean {
    return this.addresses().some((x) => ip6Equal(x, a));
  }

  #sourceFor(dst: Uint8Array): Uint8Array {
    return dst[0] === 0xfe && dst[1] === 0x80 ? linkLocal(this.#config.extAddr) : this.mleid;
  }

  /** Next hop for a destination: broadcast for multicast, the parent for a child, a child's MAC for a leader. */
  #route(dst: Uint8Array): ThreadDestination | undefined {
    if (isMulticast(dst)) return { broadcast: true };
    if (this.#role === "child") return this.#parent && { broadcast: false, ext: this.#parent.ext };
    if (!this.#isParent()) return undefined;
    const child = this.#children.find(
      (c) => (c.mleid && ip6Equal(c.mleid, dst)) || ip6Equal(rlocAddress(c.rloc16), dst) || ip6Equal(linkLocal(c.ext), dst),
    );
    return child && { broadcast: false, ext: child.ext };
  }

  #sendDatagram(d: Datagram): boolean {
    if (this.#role === "disabled" || this.#role === "detached") return false;
    const next = this.#route(d.dst);
    if (!next) return false;
    return this.#send(next, KIND_DATA, encodeDatagram(d));
  }

  #onDatagram(src: Uint8Array, d: Datagram): void {
    if (this.#role === "disabled" || this.#role === "detached") return;
    const child = this.#children.find((c) => bytesEqual(c.ext, src));
    if (child) child.lastHeardMs = this.#port.now();
    const forUs = isMulticast(d.dst) ? d.dst[1] === 0x02 || d.dst[1] === 0x03 : this.#ownsAddress(d.dst);
    if (!forUs) return;
    if (d.proto === "udp") {
      this.#udp.get(d.dstPort)?.(d);
      return;
    }
    if (d.type === 128 && !isMulticast(d.dst)) {
      this.#sendDatagram({ proto: "icmp", src: d.dst, dst: d.src, type: 129, id: d.id, seq: d.seq, data: d.data, hopLimit: 64 });
    } else if (d.type === 129) {
      this.#echoReply?.(d);
    }
  }
}
