/**
 * The Ethernet suite: each test resets the board, lets lwip_net_test run against the lab segment for a fixed
 * virtual time, and judges its serial output. The board is reset per test so a test never depends on another.
 */
import type { Suite, TestCase, TestContext, TestOutcome } from "@tock-hil/board";
import { forRole as role } from "@tock-hil/board";
import type { Verdict } from "./judge.ts";
import { judgeArp, judgeHttp, judgeIcmp, judgeTapLimits, judgeUdp } from "./judge.ts";
import { manifest } from "./manifest.ts";

export { manifest } from "./manifest.ts";
export * from "./judge.ts";

/** Boot + ARP + 20 pings at 100 ms + UDP + tap checks take about 3 s; the rest is margin for retries under loss. */
export const RUN_MS = 6000;

function test(name: string, judge: (text: string) => Verdict): TestCase {
  const m = manifest.tests.find((t) => t.name === name);
  if (!m) throw new Error(`manifest has no test ${name}`);
  return {
    ...m,
    async run(ctx: TestContext): Promise<TestOutcome> {
      const dut = role(ctx.boards, "dut", "board");
      const log = role(ctx.consoles, "dut", "console log");
      try {
        await dut.reset();
        const start = log.offset();
        ctx.log(`${name}: ${dut.name} reset, running lwip_net_test for ${RUN_MS} ms`);
        await ctx.clock.sleep(RUN_MS, ctx.signal);
        const end = log.offset();
        const v = judge(log.textSince(start));
        return { status: v.pass ? "pass" : "fail", message: v.message, measurements: v.measurements, logSpan: { role: "dut", start, end } };
      } finally {
        await dut.halt();
      }
    },
  };
}

export const suite: Suite = {
  manifest,
  tests: [
    test("arp", judgeArp),
    test("icmp_echo", judgeIcmp),
    test("udp_echo", judgeUdp),
    test("http_get", judgeHttp),
    test("tap_limits", judgeTapLimits),
  ],
};
export default suite;
