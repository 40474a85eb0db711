import { describe, expect, it } from "vitest";
import { judgeArp, judgeHttp, judgeIcmp, judgeTapLimits, judgeUdp } from "./judge.ts";

const pings = (seqs: number[]): string => seqs.map((s) => `ping: 64 bytes from 192.168.1.1: icmp_seq=${s} time=0.042 ms\n`).join("");
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe("ethernet judges", () => {
  it("arp needs a resolved, non-zero MAC and reports what the board said otherwise", () => {
    expect(judgeArp("arp: 192.168.1.1 is at 02:00:00:00:00:01\n").pass).toBe(true);
    expect(judgeArp("arp: 192.168.1.1 is at 00:00:00:00:00:00\n").pass).toBe(false);
    expect(judgeArp("arp: 192.168.1.1 unresolved after 3 requests\n").message).toBe(
      'arp: 192.168.1.1 was not resolved; board printed "arp: 192.168.1.1 unresolved after 3 requests"',
    );
    expect(judgeArp("arp: 192.168.1.1 is at 02:00:00:00:00:01").pass).toBe(false); // no newline yet
  });

  it("icmp passes at 19 of 20 distinct replies, not at 18 or with duplicates", () => {
    expect(judgeIcmp(pings(range(19))).pass).toBe(true);
    const dup = judgeIcmp(pings([...range(18), 1, 1]));
    expect(dup.pass).toBe(false);
    expect(dup.message).toBe("icmp_echo: 18 of 20 echo replies (90.0%), needs 95%; no ping summary line");
    expect(judgeIcmp(pings(range(20)) + "ping: reply icmp_seq=3 with different data\n").pass).toBe(false);
  });

  it("udp needs all four sizes byte-exact", () => {
    const ok = [1, 64, 512, 1472].map((n) => `udp: echo ${n} bytes from 192.168.1.1:7 byte-exact\n`).join("");
    expect(judgeUdp(ok).pass).toBe(true);
    const bad = judgeUdp(
      ok.replace("512 bytes from 192.168.1.1:7 byte-exact", "512 bytes from 192.168.1.1:7 differs at byte 3 (got 512 bytes)"),
    );
    expect(bad.message).toBe(
      "udp_echo: 3 of 4 echoes byte-exact; not exact: 512 bytes (udp: echo 512 bytes from 192.168.1.1:7 differs at byte 3 (got 512 bytes))",
    );
  });

  it("http needs an acknowledged 200", () => {
    expect(judgeHttp("httpd: GET / from 192.168.1.1 -> 200, 232 bytes acknowledged\n").pass).toBe(true);
    expect(judgeHttp("httpd: response to 192.168.1.1 not acknowledged: no acknowledgement after 6 retransmissions\n").message).toContain(
      "not acknowledged",
    );
  });

  it("tap limits need SIZE, BUSY and a burst that filled the queue and dropped", () => {
    const good =
      "tap: transmit of 1519-byte frame -> SIZE\ntap: back-to-back transmits -> SUCCESS, BUSY\ntap: rx burst of 16 while not reading: 8 queued, 8 dropped (queue 8), 8 delivered to udp\n";
    expect(judgeTapLimits(good).pass).toBe(true);
    expect(judgeTapLimits(good.replace("SUCCESS, BUSY", "SUCCESS, SUCCESS")).message).toContain(
      'no "SUCCESS, BUSY" line (tap: back-to-back transmits -> SUCCESS, SUCCESS)',
    );
    expect(judgeTapLimits(good.replace("8 dropped", "0 dropped")).pass).toBe(false);
  });
});
