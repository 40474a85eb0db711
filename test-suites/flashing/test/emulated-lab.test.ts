/** The flashing suite end to end on a 4-board emulated lab, with mutation checks and replay. */
import { describe, expect, it } from "vitest";
import type { Faults, Suite } from "@tock-hil/board";
import { runSuiteOnEmulatedLab } from "@tock-hil/emulator";
import { appNotLoaded, parseList, suite } from "../src/index.ts";

const only = (...names: string[]): Suite => ({ manifest: suite.manifest, tests: suite.tests.filter((t) => names.includes(t.name)) });
const run = (seed: number, faults?: Faults, s: Suite = suite) => runSuiteOnEmulatedLab(s, { seed, faults });

describe("flashing suite on the emulated lab", () => {
  it("passes every test with no faults, each refusal naming the precise class", async () => {
    const { outcomes } = await run(1);
    for (const t of suite.tests) expect(outcomes.get(t.name)?.status, `${t.name}: ${outcomes.get(t.name)?.message}`).toBe("pass");
    expect(outcomes.get("corrupted_header")?.measurements).toEqual({ code: "invalid_image", image: "flash_bad_header" });
    expect(outcomes.get("truncated_image")?.measurements).toEqual({ code: "invalid_image", image: "flash_truncated" });
    expect(outcomes.get("other_board_image")?.measurements).toEqual({ code: "wrong_board", image: "flash_other_board" });
    expect(outcomes.get("disabled_app")?.message).toBe("guard reports: expected app c_hello was not loaded: `list` shows no processes");
  });

  it("reports error, never pass, when the job's app is not loaded", async () => {
    const disabledJob: Suite = {
      manifest: { ...suite.manifest, roles: suite.manifest.roles.map((r) => ({ ...r, firmware: ["nrf52840dk", "flash_disabled"] })) },
      tests: suite.tests.filter((t) => t.name === "app_loaded"),
    };
    const { outcomes } = await run(1, undefined, disabledJob);
    expect(outcomes.get("app_loaded")).toMatchObject({
      status: "error",
      message: "expected app c_hello was not loaded: `list` shows no processes",
    });
  });

  it("fails app_loaded when the kernel panics at boot (kernelPanic on c_hello)", async () => {
    const { outcomes, transcripts } = await run(1, { kernelPanic: [{ target: "c_hello", afterMs: 0 }] }, only("app_loaded"));
    expect(outcomes.get("app_loaded")?.status).toBe("fail");
    expect(outcomes.get("app_loaded")?.message).toMatch(/^kernel panicked: panicked at /);
    expect(transcripts.dut).toContain("Emulated fault kernelPanic (target c_hello)");
  });

  it("reports error when the board hangs before answering list", async () => {
    const { outcomes } = await run(1, { boardHang: [{ target: "nrf-1", afterMs: 0 }] }, only("app_loaded"));
    expect(outcomes.get("app_loaded")?.status).toBe("error");
  });

  it("reproduces the same transcript from the same seed", async () => {
    const a = await run(5);
    const b = await run(5);
    expect(b.transcripts).toEqual(a.transcripts);
    expect(a.transcripts.dut).toContain("Hello World!");
  });
});

describe("list parsing and the not-loaded guard", () => {
  const table =
    "tock$ list\r\n PID    ShortID    Name                Quanta  Syscalls  Restarts  Grants  State\r\n" +
    " 0      Unique     c_hello                  0         2         0    1/16  Terminated\r\n" +
    " 1      Unique     blink                    0        10         0    1/16  Yielded\r\n";
  it("parses rows and finds the app", () => {
    expect(parseList(table)).toEqual([
      { pid: 0, name: "c_hello", state: "Terminated" },
      { pid: 1, name: "blink", state: "Yielded" },
    ]);
    expect(appNotLoaded(parseList(table), "c_hello")).toBeUndefined();
    expect(appNotLoaded(parseList(table), "radio_rx")?.message).toBe(
      "expected app radio_rx was not loaded: `list` shows c_hello (Terminated), blink (Yielded)",
    );
    expect(appNotLoaded(undefined, "c_hello")?.status).toBe("error");
  });
});
