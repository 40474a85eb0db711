/**
 * The OpenThread router firmware (ot-cli FTD, as `ot-central-controller.hex` on the nightly's router board).
 *
 * It boots, brings Thread up with its stored (or built-in tutorial) dataset like ot-central-controller does,
 * forms a partition as leader when alone, and offers the ot-cli console at 115200 baud: each command's output
 * ends in `Done` or `Error <n>: <name>`. The active dataset lives in the board's settings flash, so it survives
 * resets and is erased by reflashing or `factoryreset`.
 */
import type { Rng } from "../prng.ts";
import type { Radio } from "../radio.ts";
import type { Scheduler } from "../scheduler.ts";
import type { Uart } from "../uart.ts";
import { FCS_LENGTH } from "../frame.ts";
import type { ThreadConfig } from "./node.ts";
import { ThreadNode } from "./node.ts";
import { MESH_LOCAL_PREFIX, THREAD_CHANNEL, THREAD_NETWORK_KEY, THREAD_PAN_ID, hex, ip6ToString, parseIp6 } from "./wire.ts";

/** Board-level non-volatile settings (OpenThread's settings pages in flash). */
export type OtSettings = { dataset?: { networkKey: Uint8Array; panId: number; channel: number } | undefined };

const BOOT_DELAY_US = 50_000;
const PING_TIMEOUT_MS = 3000;

export class OtCliFirmware {
  readonly #sched: Scheduler;
  readonly #uart: Uart;
  readonly #radio: Radio;
  readonly #settings: OtSettings;
  readonly #onReset: () => void;
  #alive = true;
  #line = "";
  #node: ThreadNode;
  #pending: Partial<ThreadConfig> = {};
  #txQueue: Uint8Array[] = [];
  #txBusy = false;
  #udpOpen = false;
  #pingSeq = 0;

  constructor(options: {
    sched: Scheduler;
    uart: Uart;
    radio: Radio;
    rng: Rng;
    eui64: Uint8Array;
    settings: OtSettings;
    onReset: () => void;
  }) {
    this.#sched = options.sched;
    this.#uart = options.uart;
    this.#radio = options.radio;
    this.#settings = options.settings;
    this.#onReset = options.onReset;
    const ds = options.settings.dataset ?? { networkKey: THREAD_NETWORK_KEY, panId: THREAD_PAN_ID, channel: THREAD_CHANNEL };
    this.#node = new ThreadNode(
      {
        now: () => this.#sched.nowUs / 1000,
        setTimer: (ms, fn) => {
          const h = this.#sched.after(Math.round(ms * 1000), () => this.#alive && fn());
          return () => h.cancel();
        },
        transmit: (frame) => this.#transmit(frame),
        rng: options.rng,
      },
      { ...ds, extAddr: options.eui64.slice(), ftd: true },
    );
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** The Thread node, for tests and cross-checks. */
  get node(): ThreadNode {
    return this.#node;
  }

  boot(booted?: () => void): void {
    this.#radio.powerOff();
    this.#radio.onReceive = (psdu, crcValid) => {
      if (this.#alive && crcValid) this.#node.onFrame(psdu.subarray(0, psdu.length - FCS_LENGTH));
    };
    this.#sched.after(BOOT_DELAY_US, () => {
      if (!this.#alive) return;
      this.#radio.channel = this.#node.config.channel;
      this.#radio.powerOn();
      this.#node.start();
      booted?.();
    });
  }

  stop(): void {
    this.#alive = false;
    this.#node.stop();
    this.#radio.powerOff();
    this.#radio.onReceive = undefined;
  }

  hang(): void {
    this.stop();
  }

  input(text: string): void {
    for (const ch of text) {
      if (ch === "\r" || ch === "\n") {
        const line = this.#line.trim();
        this.#line = "";
        if (line.length > 0) this.#command(line);
      } else {
        this.#line += ch;
      }
    }
  }

  #write(text: string): void {
    if (this.#alive) this.#uart.write(new TextEncoder().encode(text));
  }

  #transmit(frame: Uint8Array): void {
    this.#txQueue.push(frame);
    this.#pump();
  }

  #pump(): void {
    if (this.#txBusy || !this.#alive) return;
    const frame = this.#txQueue.shift();
    if (!frame) return;
    this.#txBusy = true;
    this.#radio.transmit(frame, () => {
      this.#txBusy = false;
      this.#pump();
    });
  }

  #command(line: string): void {
    const args = line.split(/\s+/);
    const out: string[] = [line];
    const done = (lines: string[] = []): void => this.#write([...out, ...lines, "Done", ""].join("\r\n"));
    const error = (code: number, name: string): void => this.#write([...out, `Error ${code}: ${name}`, ""].join("\r\n"));
    const node = this.#node;
    const [cmd = "", sub = "", ...rest] = args;
    switch (cmd) {
      case "state":
        return done([node.role]);
      case "rloc16":
        return done([node.rloc16.toString(16).padStart(4, "0")]);
      case "extaddr":
        return done([hex(node.extAddr)]);
      case "channel":
        return done([String(node.config.channel)]);
      case "panid":
        return done([`0x${node.config.panId.toString(16).padStart(4, "0")}`]);
      case "networkkey":
        return done([hex(node.config.networkKey)]);
      case "ipaddr":
        if (sub === "mleid") return done([ip6ToString(node.mleid)]);
        return done(node.addresses().map(ip6ToString));
      case "ifconfig":
      case "thread":
        if (sub === "start" || sub === "up") {
          this.#radio.powerOn();
          node.start();
          return done();
        }
        if (sub === "stop" || sub === "down") {
          node.stop();
          return done();
        }
        return done([node.role === "disabled" ? "down" : "up"]);
      case "child":
        if (sub !== "table") return error(35, "InvalidCommand");
        return done([
          "| ID  | RLOC16 | Timeout    | Age        | LQ In | C_VN |R|D|N| Extended MAC     |",
          "+-----+--------+------------+------------+-------+------+-+-+-+------------------+",
          ...node.children.map(
            (c) =>
              `| ${String(c.id).padStart(3)} | 0x${c.rloc16.toString(16).padStart(4, "0")} | ${String(c.timeout).padStart(10)} | ` +
              `${String(Math.floor((this.#sched.nowUs / 1000 - c.lastHeardMs) / 1000)).padStart(10)} |     3 |    0 |1|0|0| ${hex(c.ext)} |`,
          ),
        ]);
      case "dataset":
        return this.#dataset(sub, rest, done, error);
      case "udp":
        return this.#udp(sub, rest, done, error);
      case "ping":
        return this.#ping(sub, rest, out);
      case "reset":
        this.#write(`${line}\r\n`);
        this.#sched.after(1000, () => this.#alive && this.#onReset());
        return;
      case "factoryreset":
        this.#settings.dataset = undefined;
        this.#write(`${line}\r\n`);
        this.#sched.after(1000, () => this.#alive && this.#onReset());
        return;
      default:
        return error(35, "InvalidCommand");
    }
  }

  #dataset(sub: string, rest: string[], done: (l?: string[]) => void, error: (c: number, n: string) => void): void {
    const node = this.#node;
    const value = rest[0] ?? "";
    switch (sub) {
      case "active":
        return done([
          "Active Timestamp: 1",
          `Channel: ${node.config.channel}`,
          "Channel Mask: 0x07fff800",
          "Ext PAN ID: dead00beef00cafe",
          `Mesh Local Prefix: ${ip6ToString(Uint8Array.from([...MESH_LOCAL_PREFIX, 0, 0, 0, 0, 0, 0, 0, 0])).replace(/(:0)+$/, "")}::/64`,
          `Network Key: ${hex(node.config.networkKey)}`,
          "Network Name: OpenThread",
          `PAN ID: 0x${node.config.panId.toString(16).padStart(4, "0")}`,
        ]);
      case "init":
        this.#pending = {};
        return done();
      case "networkkey":
        if (!/^[0-9a-fA-F]{32}$/.test(value)) return error(7, "InvalidArgs");
        this.#pending.networkKey = Uint8Array.from(Buffer.from(value, "hex"));
        return done();
      case "channel": {
        const ch = Number.parseInt(value, 10);
        if (!(ch >= 11 && ch <= 26)) return error(7, "InvalidArgs");
        this.#pending.channel = ch;
        return done();
      }
      case "panid": {
        const pan = Number.parseInt(value, value.startsWith("0x") ? 16 : 10);
        if (!(pan >= 0 && pan <= 0xfffe)) return error(7, "InvalidArgs");
        this.#pending.panId = pan;
        return done();
      }
      case "commit": {
        if (value !== "active") return error(7, "InvalidArgs");
        const next = { ...node.config, ...this.#pending };
        this.#pending = {};
        this.#settings.dataset = { networkKey: next.networkKey, panId: next.panId, channel: next.channel };
        node.reconfigure(next);
        this.#radio.channel = next.channel;
        return done();
      }
      default:
        return error(35, "InvalidCommand");
    }
  }

  #udp(sub: string, rest: string[], done: (l?: string[]) => void, error: (c: number, n: string) => void): void {
    const node = this.#node;
    switch (sub) {
      case "open":
        this.#udpOpen = true;
        return done();
      case "close":
        this.#udpOpen = false;
        for (let p = 0; p < 65536; p++) node.udpUnbind(p);
        return done();
      case "bind": {
        const port = Number.parseInt(rest[1] ?? "", 10);
        if (!this.#udpOpen) return error(13, "InvalidState");
        if (!(port > 0 && port < 65536)) return error(7, "InvalidArgs");
        node.udpBind(port, (d) => {
          const text = new TextDecoder().decode(d.payload);
          this.#write(`${d.payload.length} bytes from ${ip6ToString(d.src)} ${d.srcPort} ${text}\r\n`);
        });
        return done();
      }
      case "send": {
        const [addr = "", portText = "", ...words] = rest;
        const dst = parseIp6(addr);
        const port = Number.parseInt(portText, 10);
        if (!this.#udpOpen) return error(13, "InvalidState");
        if (!dst || !(port > 0 && port < 65536) || words.length === 0) return error(7, "InvalidArgs");
        if (!node.udpSend(dst, port, 49152, new TextEncoder().encode(words.join(" ")))) return error(3, "NoRoute");
        return done();
      }
      default:
        return error(35, "InvalidCommand");
    }
  }

  /** `ping <addr> [size] [count]`: replies as they come, then statistics and Done after the last timeout. */
  #ping(addrText: string, rest: string[], out: string[]): void {
    const dst = parseIp6(addrText);
    const size = Number.parseInt(rest[0] ?? "8", 10);
    const count = Number.parseInt(rest[1] ?? "1", 10);
    if (!dst || !(size >= 0 && size <= 40) || !(count >= 1 && count <= 10)) {
      this.#write([...out, "Error 7: InvalidArgs", ""].join("\r\n"));
      return;
    }
    this.#write(`${out.join("\r\n")}\r\n`);
    const id = 0x1234;
    const sentAt = new Map<number, number>();
    const rtts: number[] = [];
    const node = this.#node;
    node.onEchoReply((d) => {
      const t0 = sentAt.get(d.seq);
      if (t0 === undefined || d.id !== id) return;
      sentAt.delete(d.seq);
      const rtt = Math.round(this.#sched.nowUs / 1000 - t0);
      rtts.push(rtt);
      this.#write(`${d.data.length + 8} bytes from ${ip6ToString(d.src)}: icmp_seq=${d.seq} hlim=${d.hopLimit} time=${rtt}ms\r\n`);
    });
    for (let i = 0; i < count; i++) {
      this.#sched.after(i * 1_000_000, () => {
        if (!this.#alive) return;
        const seq = ++this.#pingSeq;
        sentAt.set(seq, this.#sched.nowUs / 1000);
        node.echoRequest(
          dst,
          id,
          seq,
          new Uint8Array(size).map((_, k) => k & 0xff),
        );
      });
    }
    this.#sched.after(((count - 1) * 1000 + PING_TIMEOUT_MS) * 1000, () => {
      if (!this.#alive) return;
      node.onEchoReply(undefined);
      const received = rtts.length;
      const loss = ((count - received) / count) * 100;
      let summary = `${count} packets transmitted, ${received} packets received. Packet loss = ${loss.toFixed(1)}%.`;
      if (received > 0) {
        const avg = rtts.reduce((a, b) => a + b, 0) / received;
        summary += ` Round-trip min/avg/max = ${Math.min(...rtts)}/${avg.toFixed(3)}/${Math.max(...rtts)} ms.`;
      }
      this.#write(`${summary}\r\nDone\r\n`);
    });
  }
}
