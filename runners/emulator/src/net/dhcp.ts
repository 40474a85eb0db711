/**
 * DHCP (RFC 2131/2132) messages as bytes, a server for the lab's subnet and a client state machine for station
 * models. Only what a lease needs: DISCOVER/OFFER/REQUEST/ACK/NAK, options 1 (mask), 3 (router), 51 (lease time),
 * 53 (type), 54 (server id), 50 (requested address). Clients ask for broadcast replies (flags 0x8000) because they
 * cannot receive unicast before they have an address.
 */
import type { Mac } from "./ethernet.ts";
import { macBytes, macString } from "./ethernet.ts";
import { IP_BROADCAST, PacketError } from "./packets.ts";
import type { IpStack } from "./stack.ts";

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const DHCP_MAGIC = 0x63825363;
export const DhcpType = { discover: 1, offer: 2, request: 3, ack: 5, nak: 6 } as const;

export type DhcpMessage = {
  op: 1 | 2;
  xid: number;
  chaddr: Mac;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  broadcast: boolean;
  type: number;
  serverId?: number | undefined;
  requestedIp?: number | undefined;
  subnetMask?: number | undefined;
  router?: number | undefined;
  leaseSeconds?: number | undefined;
};

export function encodeDhcp(m: DhcpMessage): Uint8Array {
  const opts: number[] = [53, 1, m.type];
  const ipOpt = (code: number, v: number | undefined): void => {
    if (v !== undefined) opts.push(code, 4, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  };
  ipOpt(54, m.serverId);
  ipOpt(50, m.requestedIp);
  ipOpt(1, m.subnetMask);
  ipOpt(3, m.router);
  ipOpt(51, m.leaseSeconds);
  opts.push(255);
  const out = new Uint8Array(240 + opts.length);
  const dv = new DataView(out.buffer);
  out[0] = m.op;
  out[1] = 1;
  out[2] = 6;
  dv.setUint32(4, m.xid >>> 0);
  dv.setUint16(10, m.broadcast ? 0x8000 : 0);
  dv.setUint32(12, m.ciaddr >>> 0);
  dv.setUint32(16, m.yiaddr >>> 0);
  dv.setUint32(20, m.siaddr >>> 0);
  out.set(macBytes(m.chaddr), 28);
  dv.setUint32(236, DHCP_MAGIC);
  out.set(opts, 240);
  return out;
}

export function decodeDhcp(b: Uint8Array): DhcpMessage {
  if (b.length < 241) throw new PacketError(`DHCP message of ${b.length} bytes is truncated`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(236) !== DHCP_MAGIC) throw new PacketError("DHCP magic cookie is missing");
  const op = b[0];
  if (op !== 1 && op !== 2) throw new PacketError(`BOOTP op ${op} is invalid`);
  const m: DhcpMessage = {
    op,
    xid: dv.getUint32(4),
    chaddr: macString(b, 28),
    ciaddr: dv.getUint32(12),
    yiaddr: dv.getUint32(16),
    siaddr: dv.getUint32(20),
    broadcast: (dv.getUint16(10) & 0x8000) !== 0,
    type: 0,
  };
  let at = 240;
  while (at < b.length) {
    const code = b[at] ?? 255;
    if (code === 255) break;
    if (code === 0) {
      at++;
      continue;
    }
    const len = b[at + 1] ?? 0;
    if (at + 2 + len > b.length) throw new PacketError(`DHCP option ${code} overruns the message`);
    const v = len === 4 ? dv.getUint32(at + 2) : undefined;
    if (code === 53) m.type = b[at + 2] ?? 0;
    else if (code === 54) m.serverId = v;
    else if (code === 50) m.requestedIp = v;
    else if (code === 1) m.subnetMask = v;
    else if (code === 3) m.router = v;
    else if (code === 51) m.leaseSeconds = v;
    at += 2 + len;
  }
  if (m.type === 0) throw new PacketError("DHCP message has no message-type option");
  return m;
}

/** A server handing out `poolStart + n` to each new client MAC, on an existing stack. */
export class DhcpServer {
  readonly leases = new Map<Mac, number>();
  /** When true the server ignores every request (fault: DHCP server silent). */
  silent = false;
  readonly #stack: IpStack;
  readonly #pool: { start: number; size: number; mask: number; leaseSeconds: number };

  constructor(stack: IpStack, pool: { start: number; size: number; mask: number; leaseSeconds: number }) {
    this.#stack = stack;
    this.#pool = pool;
    stack.udpBind(DHCP_SERVER_PORT, (_src, _port, data) => this.#onMessage(data));
  }

  #onMessage(data: Uint8Array): void {
    if (this.silent) return;
    let m: DhcpMessage;
    try {
      m = decodeDhcp(data);
    } catch (err) {
      if (err instanceof PacketError) return;
      throw err;
    }
    if (m.op !== 1) return;
    let ip = this.leases.get(m.chaddr);
    if (ip === undefined) {
      if (this.leases.size >= this.#pool.size) return;
      ip = (this.#pool.start + this.leases.size) >>> 0;
      this.leases.set(m.chaddr, ip);
    }
    let type: number;
    if (m.type === DhcpType.discover) type = DhcpType.offer;
    else if (m.type === DhcpType.request) {
      const wanted = m.requestedIp ?? m.ciaddr;
      if (m.serverId !== undefined && m.serverId !== this.#stack.ip) return; // chose another server
      type = wanted === ip ? DhcpType.ack : DhcpType.nak;
    } else return;
    const reply = encodeDhcp({
      op: 2,
      xid: m.xid,
      chaddr: m.chaddr,
      ciaddr: 0,
      yiaddr: type === DhcpType.nak ? 0 : ip,
      siaddr: this.#stack.ip,
      broadcast: true,
      type,
      serverId: this.#stack.ip,
      subnetMask: this.#pool.mask,
      router: this.#stack.ip,
      leaseSeconds: this.#pool.leaseSeconds,
    });
    this.#stack.udpSend(IP_BROADCAST, DHCP_SERVER_PORT, DHCP_CLIENT_PORT, reply);
  }
}

export type DhcpLease = { ip: number; router: number; mask: number; server: number; leaseSeconds: number };

/**
 * Client: DISCOVER, wait for an OFFER, REQUEST it, wait for the ACK; each step retransmitted every `retryMs`
 * until `timeoutMs` has passed, then `done(undefined)`.
 */
export function dhcpClient(
  stack: IpStack,
  options: { xid: number; retryMs: number; timeoutMs: number; after: (ms: number, fn: () => void) => void; nowMs: () => number },
  done: (lease: DhcpLease | undefined) => void,
): void {
  const deadline = options.nowMs() + options.timeoutMs;
  let state: "discover" | "request" | "bound" | "failed" = "discover";
  let offer: DhcpMessage | undefined;
  const send = (): void => {
    const msg =
      state === "discover"
        ? encodeDhcp({
            op: 1,
            xid: options.xid,
            chaddr: stack.mac,
            ciaddr: 0,
            yiaddr: 0,
            siaddr: 0,
            broadcast: true,
            type: DhcpType.discover,
          })
        : encodeDhcp({
            op: 1,
            xid: options.xid,
            chaddr: stack.mac,
            ciaddr: 0,
            yiaddr: 0,
            siaddr: 0,
            broadcast: true,
            type: DhcpType.request,
            requestedIp: offer?.yiaddr,
            serverId: offer?.serverId,
          });
    stack.udpSend(IP_BROADCAST, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, msg);
  };
  const tick = (): void => {
    if (state === "bound" || state === "failed") return;
    if (options.nowMs() >= deadline) {
      state = "failed";
      return done(undefined);
    }
    send();
    options.after(options.retryMs, tick);
  };
  stack.udpBind(DHCP_CLIENT_PORT, (_src, _port, data) => {
    let m: DhcpMessage;
    try {
      m = decodeDhcp(data);
    } catch (err) {
      if (err instanceof PacketError) return;
      throw err;
    }
    if (m.op !== 2 || m.xid !== options.xid || m.chaddr !== stack.mac) return;
    if (state === "discover" && m.type === DhcpType.offer) {
      offer = m;
      state = "request";
      send();
    } else if (state === "request" && m.type === DhcpType.ack) {
      state = "bound";
      stack.ip = m.yiaddr;
      done({ ip: m.yiaddr, router: m.router ?? 0, mask: m.subnetMask ?? 0, server: m.serverId ?? 0, leaseSeconds: m.leaseSeconds ?? 0 });
    } else if (state === "request" && m.type === DhcpType.nak) {
      state = "discover";
    }
  });
  tick();
}
