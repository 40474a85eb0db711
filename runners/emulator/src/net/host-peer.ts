/**
 * The runner host on the lab's L2 segment (what the tap/SLIRP side of a QEMU or bench setup provides): gateway
 * 192.168.1.1 with a DHCP server, a UDP echo service (port 7, RFC 862), a burst service (port 19: answers one
 * datagram with 16, to overrun a receiver's queue) and an HTTP prober that fetches `GET /` from every address
 * that announces itself with a gratuitous ARP, as a bench script running curl would.
 *
 * Suites never call it: boards reach it over frames, and what it did is visible in the boards' serial output.
 */
import type { Scheduler } from "../scheduler.ts";
import { DhcpServer } from "./dhcp.ts";
import type { Mac } from "./ethernet.ts";
import { fcsValid } from "./ethernet.ts";
import { HTTP_PORT, httpGetRequest, parseHttpResponse } from "./http.ts";
import { ipString, parseIp } from "./packets.ts";
import type { L2Segment, SegmentPort } from "./segment.ts";
import { IpStack } from "./stack.ts";

export const HOST_IP = parseIp("192.168.1.1");
export const HOST_MAC: Mac = "02:00:00:00:00:01";
export const SUBNET_MASK = parseIp("255.255.255.0");
export const DHCP_POOL_START = parseIp("192.168.1.100");
export const UDP_ECHO_PORT = 7;
export const UDP_BURST_PORT = 19;
export const UDP_BURST_COUNT = 16;
/** Time between seeing an announcement and the first GET, and between retries. */
export const HTTP_PROBE_DELAY_MS = 200;
export const HTTP_PROBE_RETRY_MS = 1000;
export const HTTP_PROBE_TRIES = 5;

export type HttpProbe = { ip: string; atMs: number; status?: number; error?: string };

export class HostPeer {
  readonly port: SegmentPort;
  readonly #sched: Scheduler;
  #generation = 0;
  #stack!: IpStack;
  #dhcp!: DhcpServer;
  #nextPort = 49152;
  readonly #probing = new Set<number>();
  /** Every HTTP probe outcome of the session, for emulator tests (suites judge boards' output instead). */
  probes: HttpProbe[] = [];
  frameErrors = 0;

  constructor(sched: Scheduler, segment: L2Segment) {
    this.#sched = sched;
    this.port = segment.attach("host", "infrastructure");
    this.port.onWire = (wire) => {
      // The host NIC checks and strips the FCS like any MAC; a bad frame is counted and dropped.
      if (!fcsValid(wire)) {
        this.frameErrors++;
        return;
      }
      this.#stack.input(wire.subarray(0, wire.length - 4));
    };
    this.reset();
  }

  get stack(): IpStack {
    return this.#stack;
  }

  get dhcp(): DhcpServer {
    return this.#dhcp;
  }

  /** Forgets everything (ARP cache, leases, pending timers): a fresh host for a new session. */
  reset(): void {
    const gen = ++this.#generation;
    this.probes = [];
    this.frameErrors = 0;
    this.#probing.clear();
    const stack = new IpStack({
      mac: HOST_MAC,
      ip: HOST_IP,
      issSeed: 0x4057,
      hooks: {
        send: (frame) => this.port.transmit(frame) !== undefined,
        after: (ms, fn) => void this.#sched.after(ms * 1000, () => gen === this.#generation && fn()),
        nowUs: () => this.#sched.nowUs,
      },
    });
    this.#stack = stack;
    this.#dhcp = new DhcpServer(stack, { start: DHCP_POOL_START, size: 50, mask: SUBNET_MASK, leaseSeconds: 3600 });
    stack.udpBind(UDP_ECHO_PORT, (src, srcPort, data) => stack.udpSend(src, UDP_ECHO_PORT, srcPort, data));
    stack.udpBind(UDP_BURST_PORT, (src, srcPort) => {
      for (let i = 0; i < UDP_BURST_COUNT; i++) {
        const data = new Uint8Array(64).fill(i);
        stack.udpSend(src, UDP_BURST_PORT, srcPort, data);
      }
    });
    stack.onArp = (op, senderIp, _mac, targetIp) => {
      if (op === 1 && senderIp === targetIp && senderIp !== HOST_IP && senderIp !== 0) this.#probe(senderIp, gen);
    };
  }

  #probe(ip: number, gen: number): void {
    if (this.#probing.has(ip)) return;
    this.#probing.add(ip);
    let tries = 0;
    const attempt = (): void => {
      if (gen !== this.#generation) return;
      tries++;
      this.#stack.tcpRequest(ip, HTTP_PORT, this.#nextPort++, httpGetRequest(ipString(ip)), (r) => {
        if (gen !== this.#generation) return;
        const atMs = this.#sched.nowUs / 1000;
        if ("error" in r) {
          if (tries < HTTP_PROBE_TRIES) return void this.#sched.after(HTTP_PROBE_RETRY_MS * 1000, attempt);
          this.probes.push({ ip: ipString(ip), atMs, error: r.error });
          this.#probing.delete(ip);
          return;
        }
        try {
          this.probes.push({ ip: ipString(ip), atMs, status: parseHttpResponse(r.response).status });
        } catch (err) {
          this.probes.push({ ip: ipString(ip), atMs, error: (err as Error).message });
        }
        this.#probing.delete(ip);
      });
    };
    this.#sched.after(HTTP_PROBE_DELAY_MS * 1000, attempt);
  }
}
