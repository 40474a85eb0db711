/**
 * Model of `lwip_net_test`: the libtock-c lwIP tap example (static 192.168.1.50/24, MAC da:df:10:cc:45:3d, httpd
 * on port 80) extended with the checks the Ethernet suite needs, each printed from what actually came back over
 * the tap: ARP for the gateway, 20 pings, UDP echo at four sizes, and the tap driver's limits.
 */
import type { ProcessModel } from "../boards/kernel-core.ts";
import { HTTP_PORT, httpResponse, parseHttpRequest } from "./http.ts";
import type { NetDrivers } from "./lwip.ts";
import { createNetif } from "./lwip.ts";
import { ipString, parseIp } from "./packets.ts";
import { TapStatus, tapStatusName, TAP_RX_SLOTS } from "./tap.ts";

export const LWIP_MAC = "da:df:10:cc:45:3d";
export const LWIP_IP = parseIp("192.168.1.50");
export const GATEWAY_IP = parseIp("192.168.1.1");
export const PING_COUNT = 20;
export const PING_INTERVAL_MS = 100;
export const PING_TIMEOUT_MS = 1000;
export const PING_DATA_LENGTH = 56;
export const UDP_ECHO_SIZES = [1, 64, 512, 1472] as const;
export const UDP_BURST = 16;
export const HTTP_BODY =
  "<html><head><title>lwIP - A Lightweight TCP/IP Stack</title></head><body><h1>Tock lwIP tap example</h1><p>Served by lwIP on Tock.</p></body></html>";

/** Pattern bytes for echo payloads: distinct per size so a mixed-up reply is caught. */
export function echoPayload(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + size) & 0xff;
  return out;
}

/** httpd on port 80 that reports each response once the peer has acknowledged it (our FIN included). */
export function serveHttp(ctx: Parameters<ProcessModel<NetDrivers>>[0], stack: ReturnType<typeof createNetif>["stack"]): void {
  stack.tcpListen(HTTP_PORT, {
    respond: (request) => {
      const req = parseHttpRequest(request);
      if (!req) return undefined;
      return req.method === "GET" && req.path === "/"
        ? httpResponse(200, "OK", HTTP_BODY)
        : httpResponse(404, "Not Found", "<html><body>404</body></html>");
    },
    done: ctx.guard((info) => {
      if (info.acknowledged) ctx.print(`httpd: GET / from ${ipString(info.remote)} -> 200, ${info.responseBytes} bytes acknowledged\n`);
      else ctx.print(`httpd: response to ${ipString(info.remote)} not acknowledged: ${info.reason}\n`);
    }),
  });
}

export const lwipNetTest: ProcessModel<NetDrivers> = (ctx) => {
  const tap = ctx.drivers.tap;
  if (!tap) {
    ctx.print("-> tapif_init: failed, no tap driver\n");
    return;
  }
  ctx.print("-> userspace tap network app\n");
  const netif = createNetif(ctx, tap, LWIP_MAC, LWIP_IP);
  const stack = netif.stack;
  ctx.print("-> tapif_init: success\n");
  ctx.print(`-> tapif_status: ${ipString(LWIP_IP)}\n`);
  serveHttp(ctx, stack);
  ctx.print("-> tap interface t0 added\n");
  stack.announce();

  const arp = (): void =>
    stack.resolve(GATEWAY_IP, (mac) => {
      if (mac) ctx.print(`arp: ${ipString(GATEWAY_IP)} is at ${mac}\n`);
      else ctx.print(`arp: ${ipString(GATEWAY_IP)} unresolved after 3 requests\n`);
      pings();
    });

  const pings = (): void => {
    let sent = 0;
    let received = 0;
    let outstanding = 0;
    const data = new Uint8Array(PING_DATA_LENGTH).map((_, i) => (i + 0x10) & 0xff);
    const finish = (): void => {
      const loss = Math.round(((sent - received) / sent) * 100);
      ctx.print(`ping: ${sent} packets transmitted, ${received} received, ${loss}% packet loss\n`);
      udp();
    };
    const one = (): void => {
      const seq = ++sent;
      outstanding++;
      stack.ping(GATEWAY_IP, 0x7475, seq, data, PING_TIMEOUT_MS, (r) => {
        outstanding--;
        if (r) {
          const same = r.data.length === data.length && r.data.every((b, i) => b === data[i]);
          if (same) {
            received++;
            ctx.print(
              `ping: ${r.data.length + 8} bytes from ${ipString(GATEWAY_IP)}: icmp_seq=${seq} time=${(r.rttUs / 1000).toFixed(3)} ms\n`,
            );
          } else ctx.print(`ping: reply icmp_seq=${seq} with different data\n`);
        }
        if (sent === PING_COUNT && outstanding === 0) finish();
      });
      if (sent < PING_COUNT) ctx.after(PING_INTERVAL_MS, one);
    };
    one();
  };

  const udp = (): void => {
    let matched = 0;
    const sizes = [...UDP_ECHO_SIZES];
    const port = 40007;
    let current: { size: number; payload: Uint8Array; done: boolean } | undefined;
    stack.udpBind(port, (src, srcPort, data) => {
      if (!current || current.done || src !== GATEWAY_IP || srcPort !== 7) return;
      current.done = true;
      const p = current.payload;
      const diff = data.length !== p.length ? Math.min(data.length, p.length) : p.findIndex((b, i) => data[i] !== b);
      if (diff < 0) {
        matched++;
        ctx.print(`udp: echo ${p.length} bytes from ${ipString(src)}:7 byte-exact\n`);
      } else ctx.print(`udp: echo ${p.length} bytes from ${ipString(src)}:7 differs at byte ${diff} (got ${data.length} bytes)\n`);
      ctx.after(10, next);
    });
    const next = (): void => {
      const size = sizes.shift();
      if (size === undefined) {
        ctx.print(`udp: ${matched} of ${UDP_ECHO_SIZES.length} echoes byte-exact\n`);
        ctx.after(50, limits);
        return;
      }
      const c = { size, payload: echoPayload(size), done: false };
      current = c;
      stack.udpSend(GATEWAY_IP, port, 7, c.payload);
      ctx.after(1000, () => {
        if (c.done) return;
        c.done = true;
        ctx.print(`udp: echo ${size} bytes from ${ipString(GATEWAY_IP)}:7 timed out\n`);
        next();
      });
    };
    next();
  };

  const limits = (): void => {
    if (netif.txBusy) return void ctx.after(5, limits);
    // Oversize: one byte more than the capsule's MAX_MTU.
    const big = new Uint8Array(1519);
    ctx.print(`tap: transmit of ${big.length}-byte frame -> ${tapStatusName(tap.transmit(big, 900, () => undefined))}\n`);
    // Two back-to-back transmits: the capsule has one frame in flight, the second is refused.
    const probe = new Uint8Array(60);
    probe.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xda, 0xdf, 0x10, 0xcc, 0x45, 0x3d, 0x88, 0xb5]);
    const first = tap.transmit(probe, 901, () => undefined);
    const second = tap.transmit(probe, 902, () => undefined);
    ctx.print(`tap: back-to-back transmits -> ${tapStatusName(first)}, ${tapStatusName(second)}\n`);
    if (first !== TapStatus.SUCCESS) return;
    ctx.after(5, burst);
  };

  const burst = (): void => {
    const before = tap.rxStats();
    netif.holdRx(true);
    let echoed = 0;
    stack.udpBind(40019, () => echoed++);
    stack.udpSend(GATEWAY_IP, 40019, 19, new Uint8Array([1]));
    ctx.after(200, () => {
      netif.holdRx(false);
      const after = tap.rxStats();
      ctx.print(
        `tap: rx burst of ${UDP_BURST} while not reading: ${after.rxFrames - before.rxFrames} queued, ${after.rxDropped - before.rxDropped} dropped (queue ${TAP_RX_SLOTS}), ${echoed} delivered to udp\n`,
      );
      ctx.print(`tap: rx stats frames=${after.rxFrames} bytes=${after.rxBytes} dropped=${after.rxDropped}\n`);
      ctx.print("net_test: done\n");
    });
  };

  ctx.after(100, arp);
};
