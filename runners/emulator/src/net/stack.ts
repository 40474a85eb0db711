/**
 * A small IPv4 stack over Ethernet frames without FCS: ARP (cache, requests with retries, replies, gratuitous),
 * ICMP echo (responder and pinger), UDP sockets and a TCP subset good for one request/response per connection
 * (HTTP/1.0) with retransmission. Both the lab's host peer and the boards' lwIP-style app models use it, so every
 * byte either side acts on went through the other side's encoder and this decoder's checks.
 *
 * Timers go through the `after` hook so the owner decides what "alive" means (a process that died must stop
 * reacting); the stack never schedules anything on its own.
 */
import type { EthernetFrame, Mac } from "./ethernet.ts";
import { BROADCAST_MAC, ETHERTYPE, FrameError, decodeEthernet, encodeEthernet } from "./ethernet.ts";
import type { TcpSegment } from "./packets.ts";
import {
  IP_BROADCAST,
  IP_PROTOCOL,
  PacketError,
  TCP_FLAG,
  decodeArp,
  decodeIcmpEcho,
  decodeIpv4,
  decodeTcp,
  decodeUdp,
  encodeArp,
  encodeIcmpEcho,
  encodeIpv4,
  encodeTcp,
  encodeUdp,
} from "./packets.ts";

export type StackHooks = {
  /** Hands a frame (no FCS) to the link; returns false when the link could not take it. */
  send(frame: Uint8Array): boolean;
  /** Runs `fn` after `ms` of virtual time, unless the owner has gone away by then. */
  after(ms: number, fn: () => void): void;
  /** Virtual time in microseconds. */
  nowUs(): number;
};

export type StackStats = {
  framesIn: number;
  malformed: number;
  notForUs: number;
  arpRepliesSent: number;
  echoRepliesSent: number;
  udpIn: number;
  tcpIn: number;
};

export type UdpHandler = (src: number, srcPort: number, data: Uint8Array) => void;
export type PingResult = { seq: number; rttUs: number; data: Uint8Array } | undefined;

export const TCP_MSS = 1460;
const TCP_WINDOW = 4096;
const TCP_RTO_MS = 300;
const TCP_MAX_RETRIES = 6;

type Unacked = { seq: number; flags: number; data: Uint8Array };

type TcpConn = {
  key: string;
  remote: number;
  remotePort: number;
  localPort: number;
  sndUna: number;
  sndNxt: number;
  rcvNxt: number;
  unacked: Unacked[];
  retries: number;
  timerArmed: boolean;
  received: number[];
  peerFin: boolean;
  ourFin: boolean;
  closed: boolean;
  /** Server: the outcome was already reported. */
  reported: boolean;
  established: boolean;
  role: "server" | "client";
  onEstablished?: () => void;
  onData?: (conn: TcpConn) => void;
  onDone: (ok: boolean, reason: string) => void;
};

export type TcpServerHandler = {
  /** Called with the bytes received so far; returns the full response once the request is complete. */
  respond(request: Uint8Array, remote: number, remotePort: number): Uint8Array | undefined;
  /** The response (and our FIN) was acknowledged by the peer, or the connection was given up. */
  done(info: { remote: number; remotePort: number; acknowledged: boolean; reason: string; responseBytes: number }): void;
};

const u32 = (n: number): number => n >>> 0;
const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;

export class IpStack {
  readonly mac: Mac;
  ip: number;
  readonly arpCache = new Map<number, Mac>();
  readonly stats: StackStats = { framesIn: 0, malformed: 0, notForUs: 0, arpRepliesSent: 0, echoRepliesSent: 0, udpIn: 0, tcpIn: 0 };
  /** Called for every ARP packet seen (including ones not for us), e.g. to notice gratuitous announcements. */
  onArp: ((op: number, senderIp: number, senderMac: Mac, targetIp: number) => void) | undefined;
  readonly #hooks: StackHooks;
  readonly #arpWaiters = new Map<number, ((mac: Mac | undefined) => void)[]>();
  readonly #udp = new Map<number, UdpHandler>();
  readonly #pings = new Map<string, (r: PingResult) => void>();
  readonly #tcpServers = new Map<number, TcpServerHandler>();
  readonly #tcp = new Map<string, TcpConn>();
  #ipId = 1;
  #iss: number;

  constructor(options: { mac: Mac; ip: number; hooks: StackHooks; issSeed?: number }) {
    this.mac = options.mac;
    this.ip = options.ip;
    this.#hooks = options.hooks;
    this.#iss = u32((options.issSeed ?? 0x1000) * 2654435761);
  }

  // --- input -------------------------------------------------------------------------------------------------------

  input(frame: Uint8Array): void {
    this.stats.framesIn++;
    let eth: EthernetFrame;
    try {
      eth = decodeEthernet(frame);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.stats.malformed++;
      return;
    }
    if (eth.dst !== this.mac && eth.dst !== BROADCAST_MAC) {
      this.stats.notForUs++;
      return;
    }
    try {
      if (eth.etherType === ETHERTYPE.arp) this.#arpIn(eth);
      else if (eth.etherType === ETHERTYPE.ipv4) this.#ipIn(eth);
    } catch (err) {
      if (!(err instanceof PacketError)) throw err;
      this.stats.malformed++;
    }
  }

  #arpIn(eth: EthernetFrame): void {
    const arp = decodeArp(eth.payload);
    this.onArp?.(arp.op, arp.senderIp, arp.senderMac, arp.targetIp);
    if (arp.senderIp !== 0) this.#learn(arp.senderIp, arp.senderMac);
    if (arp.op === 1 && this.ip !== 0 && arp.targetIp === this.ip && arp.senderIp !== this.ip) {
      this.stats.arpRepliesSent++;
      this.#sendEth(
        arp.senderMac,
        ETHERTYPE.arp,
        encodeArp({ op: 2, senderMac: this.mac, senderIp: this.ip, targetMac: arp.senderMac, targetIp: arp.senderIp }),
      );
    }
  }

  #learn(ip: number, mac: Mac): void {
    this.arpCache.set(ip, mac);
    const waiters = this.#arpWaiters.get(ip);
    if (!waiters) return;
    this.#arpWaiters.delete(ip);
    for (const w of waiters) w(mac);
  }

  #ipIn(eth: EthernetFrame): void {
    const ip = decodeIpv4(eth.payload);
    if (ip.dst !== this.ip && ip.dst !== IP_BROADCAST) {
      this.stats.notForUs++;
      return;
    }
    if (ip.src !== 0 && ip.src !== IP_BROADCAST && !this.arpCache.has(ip.src)) this.arpCache.set(ip.src, eth.src);
    switch (ip.protocol) {
      case IP_PROTOCOL.icmp: {
        const icmp = decodeIcmpEcho(ip.payload);
        if (icmp.type === 8 && ip.dst === this.ip) {
          this.stats.echoRepliesSent++;
          this.sendIpv4(ip.src, IP_PROTOCOL.icmp, encodeIcmpEcho({ type: 0, id: icmp.id, seq: icmp.seq, data: icmp.data }));
        } else if (icmp.type === 0) {
          const key = `${ip.src}/${icmp.id}/${icmp.seq}`;
          const waiter = this.#pings.get(key);
          if (waiter) {
            this.#pings.delete(key);
            waiter({ seq: icmp.seq, rttUs: 0, data: icmp.data.slice() });
          }
        }
        return;
      }
      case IP_PROTOCOL.udp: {
        const udp = decodeUdp(ip.src, ip.dst, ip.payload);
        this.stats.udpIn++;
        this.#udp.get(udp.dstPort)?.(ip.src, udp.srcPort, udp.data.slice());
        return;
      }
      case IP_PROTOCOL.tcp:
        if (ip.dst !== this.ip) return;
        this.stats.tcpIn++;
        this.#tcpIn(ip.src, decodeTcp(ip.src, ip.dst, ip.payload));
        return;
    }
  }

  // --- output ------------------------------------------------------------------------------------------------------

  #sendEth(dst: Mac, etherType: number, payload: Uint8Array): boolean {
    return this.#hooks.send(encodeEthernet({ dst, src: this.mac, etherType, payload }));
  }

  /** Broadcasts an ARP request for our own address, as lwIP does when an interface comes up. */
  announce(): void {
    this.#sendEth(
      BROADCAST_MAC,
      ETHERTYPE.arp,
      encodeArp({ op: 1, senderMac: this.mac, senderIp: this.ip, targetMac: "00:00:00:00:00:00", targetIp: this.ip }),
    );
  }

  /** Resolves `ip` with up to `tries` requests `intervalMs` apart; `done(undefined)` when nobody answered. */
  resolve(ip: number, done: (mac: Mac | undefined) => void, tries = 3, intervalMs = 1000): void {
    if (ip === IP_BROADCAST) return done(BROADCAST_MAC);
    const known = this.arpCache.get(ip);
    if (known) return done(known);
    const list = this.#arpWaiters.get(ip);
    if (list) return void list.push(done);
    this.#arpWaiters.set(ip, [done]);
    let sent = 0;
    const ask = (): void => {
      if (!this.#arpWaiters.has(ip)) return;
      if (sent === tries) {
        const waiters = this.#arpWaiters.get(ip) ?? [];
        this.#arpWaiters.delete(ip);
        for (const w of waiters) w(undefined);
        return;
      }
      sent++;
      this.#sendEth(
        BROADCAST_MAC,
        ETHERTYPE.arp,
        encodeArp({ op: 1, senderMac: this.mac, senderIp: this.ip, targetMac: "00:00:00:00:00:00", targetIp: ip }),
      );
      this.#hooks.after(intervalMs, ask);
    };
    ask();
  }

  /** Sends an IPv4 packet, resolving the next hop first (packets wait for ARP like lwIP's queue of one). */
  sendIpv4(dst: number, protocol: number, payload: Uint8Array, done?: (sent: boolean) => void): void {
    const packet = encodeIpv4({ src: this.ip, dst, protocol, ttl: 64, id: this.#ipId++, payload });
    this.resolve(dst, (mac) => {
      const ok = mac !== undefined && this.#sendEth(mac, ETHERTYPE.ipv4, packet);
      done?.(ok);
    });
  }

  udpBind(port: number, handler: UdpHandler): void {
    if (this.#udp.has(port)) throw new Error(`UDP port ${port} is already bound`);
    this.#udp.set(port, handler);
  }

  udpSend(dst: number, srcPort: number, dstPort: number, data: Uint8Array, done?: (sent: boolean) => void): void {
    this.sendIpv4(dst, IP_PROTOCOL.udp, encodeUdp(this.ip, dst, { srcPort, dstPort, data }), done);
  }

  /** Sends one echo request; `done` gets the reply (checksum-verified, same id/seq) or undefined after `timeoutMs`. */
  ping(dst: number, id: number, seq: number, data: Uint8Array, timeoutMs: number, done: (r: PingResult) => void): void {
    const key = `${dst}/${id}/${seq}`;
    const start = this.#hooks.nowUs();
    this.#pings.set(key, (r) => done(r && { ...r, rttUs: this.#hooks.nowUs() - start }));
    this.sendIpv4(dst, IP_PROTOCOL.icmp, encodeIcmpEcho({ type: 8, id, seq, data }));
    this.#hooks.after(timeoutMs, () => {
      if (!this.#pings.delete(key)) return;
      done(undefined);
    });
  }

  // --- TCP ---------------------------------------------------------------------------------------------------------

  tcpListen(port: number, handler: TcpServerHandler): void {
    this.#tcpServers.set(port, handler);
  }

  /**
   * Opens a connection, sends `request`, collects the response until the server closes, then closes. `done` gets
   * the response bytes or an error reason (refused, timed out).
   */
  tcpRequest(
    dst: number,
    dstPort: number,
    srcPort: number,
    request: Uint8Array,
    done: (r: { response: Uint8Array } | { error: string }) => void,
  ): void {
    const iss = this.#nextIss();
    const conn: TcpConn = this.#newConn("client", dst, dstPort, srcPort, iss, 0, (ok, reason) => {
      done(ok ? { response: Uint8Array.from(conn.received) } : { error: reason });
    });
    conn.onEstablished = () => this.#queue(conn, TCP_FLAG.psh | TCP_FLAG.ack, request);
    conn.onData = (c) => {
      if (c.peerFin && !c.ourFin) this.#queue(c, TCP_FLAG.fin | TCP_FLAG.ack, new Uint8Array(0));
    };
    this.#queue(conn, TCP_FLAG.syn, new Uint8Array(0));
  }

  #nextIss(): number {
    this.#iss = u32(this.#iss + 64000);
    return this.#iss;
  }

  #newConn(
    role: TcpConn["role"],
    remote: number,
    remotePort: number,
    localPort: number,
    iss: number,
    rcvNxt: number,
    onDone: TcpConn["onDone"],
  ): TcpConn {
    const key = `${remote}:${remotePort}:${localPort}`;
    const conn: TcpConn = {
      key,
      remote,
      remotePort,
      localPort,
      sndUna: iss,
      sndNxt: iss,
      rcvNxt,
      unacked: [],
      retries: 0,
      timerArmed: false,
      received: [],
      peerFin: false,
      ourFin: false,
      closed: false,
      reported: false,
      established: role === "server",
      role,
      onDone,
    };
    this.#tcp.set(key, conn);
    return conn;
  }

  #emit(conn: TcpConn, seq: number, flags: number, data: Uint8Array): void {
    const seg: TcpSegment = { srcPort: conn.localPort, dstPort: conn.remotePort, seq, ack: conn.rcvNxt, flags, window: TCP_WINDOW, data };
    if (flags & TCP_FLAG.syn && conn.role === "client") seg.ack = 0;
    this.sendIpv4(conn.remote, IP_PROTOCOL.tcp, encodeTcp(this.ip, conn.remote, seg));
  }

  /** Sends a segment that occupies sequence space and keeps it for retransmission until acknowledged. */
  #queue(conn: TcpConn, flags: number, data: Uint8Array): void {
    for (let off = 0; off < Math.max(1, data.length); off += TCP_MSS) {
      const chunk = data.subarray(off, off + TCP_MSS);
      const last = off + TCP_MSS >= data.length;
      const f = last ? flags : (flags & ~TCP_FLAG.fin) | TCP_FLAG.ack;
      const seg: Unacked = { seq: conn.sndNxt, flags: f, data: chunk };
      conn.sndNxt = u32(conn.sndNxt + chunk.length + (f & TCP_FLAG.syn ? 1 : 0) + (f & TCP_FLAG.fin ? 1 : 0));
      if (f & TCP_FLAG.fin) conn.ourFin = true;
      conn.unacked.push(seg);
      this.#emit(conn, seg.seq, f, chunk);
    }
    this.#armTimer(conn);
  }

  #armTimer(conn: TcpConn): void {
    if (conn.timerArmed || conn.unacked.length === 0) return;
    conn.timerArmed = true;
    this.#hooks.after(TCP_RTO_MS * 2 ** Math.min(conn.retries, 3), () => {
      conn.timerArmed = false;
      if (conn.closed || conn.unacked.length === 0) return;
      if (++conn.retries > TCP_MAX_RETRIES) return this.#close(conn, false, `no acknowledgement after ${TCP_MAX_RETRIES} retransmissions`);
      for (const s of conn.unacked) this.#emit(conn, s.seq, s.flags, s.data);
      this.#armTimer(conn);
    });
  }

  #close(conn: TcpConn, ok: boolean, reason: string): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#tcp.delete(conn.key);
    if (conn.reported) return;
    conn.reported = true;
    conn.onDone(ok, reason);
  }

  #tcpIn(src: number, seg: TcpSegment): void {
    const key = `${src}:${seg.srcPort}:${seg.dstPort}`;
    const conn = this.#tcp.get(key);
    if (!conn) {
      const server = this.#tcpServers.get(seg.dstPort);
      if (seg.flags & TCP_FLAG.rst) return;
      if (!server || !(seg.flags & TCP_FLAG.syn) || seg.flags & TCP_FLAG.ack) {
        // Closed port or stray segment: answer with a reset, as any stack does.
        const rst: TcpSegment = {
          srcPort: seg.dstPort,
          dstPort: seg.srcPort,
          seq: seg.flags & TCP_FLAG.ack ? seg.ack : 0,
          ack: u32(seg.seq + seg.data.length + 1),
          flags: TCP_FLAG.rst | TCP_FLAG.ack,
          window: 0,
          data: new Uint8Array(0),
        };
        this.sendIpv4(src, IP_PROTOCOL.tcp, encodeTcp(this.ip, src, rst));
        return;
      }
      const c: TcpConn = this.#newConn("server", src, seg.srcPort, seg.dstPort, this.#nextIss(), u32(seg.seq + 1), (ok, reason) =>
        server.done({ remote: src, remotePort: seg.srcPort, acknowledged: ok, reason, responseBytes: responseLength }),
      );
      let responseLength = 0;
      let responded = false;
      c.onData = (cc) => {
        if (!responded) {
          const response = server.respond(Uint8Array.from(cc.received), src, seg.srcPort);
          if (response) {
            responded = true;
            responseLength = response.length;
            this.#queue(cc, TCP_FLAG.psh | TCP_FLAG.ack, response);
            this.#queue(cc, TCP_FLAG.fin | TCP_FLAG.ack, new Uint8Array(0));
          }
        }
      };
      this.#queue(c, TCP_FLAG.syn | TCP_FLAG.ack, new Uint8Array(0));
      return;
    }
    if (seg.flags & TCP_FLAG.rst) return this.#close(conn, false, "connection reset by peer");
    if (seg.flags & TCP_FLAG.syn) {
      if (conn.role === "client") {
        if (!conn.established && seg.flags & TCP_FLAG.ack && seg.ack === u32(conn.sndUna + 1)) {
          conn.established = true;
          conn.rcvNxt = u32(seg.seq + 1);
          conn.sndUna = seg.ack;
          conn.unacked = [];
          conn.retries = 0;
          conn.onEstablished?.();
        } else if (conn.established) {
          // A retransmitted SYN-ACK: our ACK was lost, say it again.
          this.#emit(conn, conn.sndNxt, TCP_FLAG.ack, new Uint8Array(0));
        }
      } else {
        // A retransmitted SYN: our SYN-ACK was lost, resend what is outstanding.
        for (const s of conn.unacked) this.#emit(conn, s.seq, s.flags, s.data);
      }
      return;
    }
    if (seg.flags & TCP_FLAG.ack && seqLt(conn.sndUna, seg.ack) && !seqLt(conn.sndNxt, seg.ack)) {
      conn.sndUna = seg.ack;
      conn.unacked = conn.unacked.filter((s) => {
        const end = u32(s.seq + s.data.length + (s.flags & (TCP_FLAG.syn | TCP_FLAG.fin) ? 1 : 0));
        return seqLt(seg.ack, end);
      });
      conn.retries = 0;
    }
    let advanced = false;
    if (seg.data.length > 0 || seg.flags & TCP_FLAG.fin) {
      if (seg.seq === conn.rcvNxt) {
        conn.received.push(...seg.data);
        conn.rcvNxt = u32(conn.rcvNxt + seg.data.length);
        if (seg.flags & TCP_FLAG.fin) {
          conn.rcvNxt = u32(conn.rcvNxt + 1);
          conn.peerFin = true;
        }
        advanced = true;
      }
      // In order or not, acknowledge what we have so the peer can recover.
      this.#emit(conn, conn.sndNxt, TCP_FLAG.ack, new Uint8Array(0));
    }
    if (advanced) conn.onData?.(conn);
    const allAcked = conn.ourFin && conn.sndUna === conn.sndNxt;
    // The server's verdict is "the peer acknowledged the whole response and our FIN"; it keeps the connection to
    // acknowledge the client's FIN (retransmitted if our ACK is lost) instead of answering it with a reset.
    if (allAcked && conn.role === "server" && !conn.reported) {
      conn.reported = true;
      conn.onDone(true, "response acknowledged");
    }
    if (allAcked && conn.peerFin) {
      if (conn.role === "server") {
        conn.closed = true;
        this.#tcp.delete(conn.key);
        return;
      }
      return this.#close(conn, true, "closed");
    }
    this.#armTimer(conn);
  }
}
