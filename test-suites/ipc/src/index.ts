/**
 * The IPC suite. Each test resets the board (both kernels boot; ipc_mk_client runs its sequence once, rot13 loops)
 * and judges the tagged console output after a fixed virtual time.
 */
import type { Suite, TestCase, TestContext, TestOutcome } from "@tock-hil/board";
import type { Verdict } from "./judge.ts";
import { judgeBusy, judgeDiscovery, judgeRemotePanic, judgeRequestResponse, judgeRestart, judgeRot13, judgeTimeout } from "./judge.ts";
import { manifest } from "./manifest.ts";

export { manifest } from "./manifest.ts";
export * from "./judge.ts";

/** ipc_mk_client's sequence takes about 3 s; rot13 prints its 5 lines in about 2 s (hwci allows 10 s). */
export const RUN_MS = 5000;

function test(name: string, judge: (text: string) => Verdict): TestCase {
  const m = manifest.tests.find((t) => t.name === name);
  if (!m) throw new Error(`manifest has no test ${name}`);
  return {
    ...m,
    async run(ctx: TestContext): Promise<TestOutcome> {
      const dut = ctx.boards.dut;
      const log = ctx.consoles.dut;
      if (!dut || !log) throw new Error('role "dut" is missing from the test context');
      try {
        await dut.reset();
        const start = log.offset();
        ctx.log(`${name}: ${dut.name} reset, watching both kernels for ${RUN_MS} ms`);
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
    test("rot13", judgeRot13),
    test("discovery", judgeDiscovery),
    test("request_response", judgeRequestResponse),
    test("busy", judgeBusy),
    test("timeout", judgeTimeout),
    test("restart_generation", judgeRestart),
    test("remote_panic", judgeRemotePanic),
  ],
};
export default suite;
