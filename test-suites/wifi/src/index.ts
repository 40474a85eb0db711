/**
 * The WiFi suite. Every test flashes the images it needs from `ctx.firmware` (the job-start set, or the broken
 * extras for the negative tests), resets, waits a fixed virtual time and judges the serial output, so tests do not
 * depend on each other's order.
 */
import type { FirmwareImage, Suite, TestCase, TestContext, TestOutcome } from "@tock-hil/board";
import type { Verdict } from "./judge.ts";
import { judgeDhcp, judgeHttp, judgeInitMac, judgeJoin, judgeMissingFirmware, judgeScan, judgeWrongPassphrase } from "./judge.ts";
import { manifest } from "./manifest.ts";

export { manifest } from "./manifest.ts";
export * from "./judge.ts";

/**
 * Init waits 2 s by design, scan takes ~0.5 s, join, DHCP and the host's GET under 1 s; the window also covers the
 * app's 10 s join and DHCP timeouts so a failure is reported (not cut off) inside it.
 */
export const RUN_MS = 14_000;
export const NEGATIVE_RUN_MS = 14_000;

function image(ctx: TestContext, name: string): FirmwareImage {
  const img = ctx.firmware.dut?.[name];
  if (!img) throw new Error(`firmware ${name} for role "dut" is missing from the test context`);
  return img;
}

function test(name: string, images: string[], runMs: number, judge: (text: string) => Verdict): TestCase {
  const m = manifest.tests.find((t) => t.name === name);
  if (!m) throw new Error(`manifest has no test ${name}`);
  return {
    ...m,
    async run(ctx: TestContext): Promise<TestOutcome> {
      const dut = ctx.boards.dut;
      const log = ctx.consoles.dut;
      if (!dut || !log) throw new Error('role "dut" is missing from the test context');
      try {
        await dut.flash(
          images.map((n) => image(ctx, n)),
          ctx.signal,
        );
        await dut.reset();
        const start = log.offset();
        ctx.log(`${name}: ${dut.name} running ${images.join(" + ")} for ${runMs} ms`);
        await ctx.clock.sleep(runMs, ctx.signal);
        const end = log.offset();
        const v = judge(log.textSince(start));
        return { status: v.pass ? "pass" : "fail", message: v.message, measurements: v.measurements, logSpan: { role: "dut", start, end } };
      } finally {
        await dut.halt();
      }
    },
  };
}

const NORMAL = ["raspberry_pi_pico_w", "wifi_http"];

export const suite: Suite = {
  manifest,
  tests: [
    test("init_mac", NORMAL, RUN_MS, judgeInitMac),
    test("scan", NORMAL, RUN_MS, judgeScan),
    test("join_wpa2", NORMAL, RUN_MS, judgeJoin),
    test("dhcp_lease", NORMAL, RUN_MS, judgeDhcp),
    test("http_get", NORMAL, RUN_MS, judgeHttp),
    test("wrong_passphrase", ["raspberry_pi_pico_w", "wifi_http_wrong_psk"], NEGATIVE_RUN_MS, judgeWrongPassphrase),
    test("missing_firmware", ["raspberry_pi_pico_w-no-wifi-fw", "wifi_http"], RUN_MS, judgeMissingFirmware),
  ],
};
export default suite;
