import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlashError } from "@tock-hil/board";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { checkTbf, planRegions, toIntelHex, toUf2 } from "../src/adapters/firmware-files.ts";
import { STOP_KILL_GRACE_MS, classifyToolFailure, renderCommand, runTool, splitCommand } from "../src/adapters/tool-runner.ts";
import type { ToolResult } from "../src/adapters/tool-runner.ts";
import { buildFirmware } from "@tock-hil/emulator";
import { parseIntelHex, splitApps } from "./helpers/pty-lab.ts";

const result = (over: Partial<ToolResult>): ToolResult => ({
  argv: ["openocd", "-f", "x"],
  ok: false,
  exitCode: 1,
  failure: "exit",
  timeoutBySignal: false,
  output: "",
  durationMs: 5,
  ...over,
});
const ctx = { board: "b", what: "writing k", timeoutMs: 1000 };

describe("command templates", () => {
  it("split like a shell without running one, and substitute per argument", () => {
    expect(splitCommand(`openocd -c "adapter serial {serial}" -c 'init; halt' a\\ b`)).toEqual([
      "openocd",
      "-c",
      "adapter serial {serial}",
      "-c",
      "init; halt",
      "a b",
    ]);
    expect(renderCommand("flash --snr {serial} {image}", { serial: "12", image: "/tmp/a b.bin; rm -rf /" })).toEqual([
      "flash",
      "--snr",
      "12",
      "/tmp/a b.bin; rm -rf /",
    ]);
    expect(() => renderCommand("flash {image}", {})).toThrow(/uses \{image\}, which is not set/);
    expect(() => splitCommand(`a "b`)).toThrow(/unterminated/);
  });
});

describe("flash failure classification", () => {
  it("uses exit codes first, then known output, and keeps the output", () => {
    expect(classifyToolFailure(result({ argv: ["nrfjprog"], exitCode: 55 }), ctx).code).toBe("verify_failed");
    expect(classifyToolFailure(result({ argv: ["nrfjprog"], exitCode: 41 }), ctx).code).toBe("probe_not_found");
    expect(classifyToolFailure(result({ output: "Error: unable to find a matching CMSIS-DAP device\n" }), ctx).code).toBe(
      "probe_not_found",
    );
    expect(classifyToolFailure(result({ argv: ["probe-rs"], output: "Error: No connected probes were found.\n" }), ctx).code).toBe(
      "probe_not_found",
    );
    expect(classifyToolFailure(result({ output: "checksum mismatch - attempting binary compare\n" }), ctx).code).toBe("verify_failed");
    const other = classifyToolFailure(result({ output: "Error: target voltage too low\n" }), ctx);
    expect(other.code).toBe("tool_failed");
    expect(other.output).toContain("target voltage");
    expect(other.message).toContain("target voltage too low");
    expect(classifyToolFailure(result({ failure: "missing", exitCode: undefined }), ctx).code).toBe("tool_missing");
    expect(classifyToolFailure(result({ failure: "timeout" }), ctx).code).toBe("timeout");
    expect(classifyToolFailure(result({ failure: "cancelled", timeoutBySignal: true }), ctx).code).toBe("timeout");
    expect(classifyToolFailure(result({ failure: "cancelled" }), ctx).code).toBe("cancelled");
  });
});

describe("firmware files", () => {
  const img = (name: string, corruptHeader = false) => {
    const fw = buildFirmware(name, { corruptHeader });
    return { name: fw.name, kind: fw.kind, sha256: fw.sha256, bytes: fw.bytes };
  };

  it("lays out kernel and apps, round-trips through Intel HEX, and refuses bad TBFs", () => {
    const regions = planRegions([img("nrf52840dk"), img("radio_tx"), img("radio_rx")], { kernelAddress: 0, appsAddress: 0x40000 }, "b");
    expect(regions.map((r) => [r.kind, r.address])).toEqual([
      ["kernel", 0],
      ["apps", 0x40000],
    ]);
    const hex = parseIntelHex(toIntelHex(regions));
    expect(Buffer.from(hex.get(0)!).equals(Buffer.from(img("nrf52840dk").bytes))).toBe(true);
    expect(splitApps(hex.get(0x40000)).map((a) => Buffer.from(a).equals(Buffer.from(img("radio_tx").bytes)))).toEqual([true, false]);
    expect(splitApps(hex.get(0x40000))).toHaveLength(2);
    expect(() => checkTbf(img("radio_tx", true))).toThrow(/radio_tx .*checksum mismatch/);
    const truncated = { ...img("radio_tx"), bytes: img("radio_tx").bytes.slice(0, 100) };
    expect(() => checkTbf(truncated)).toThrow(FlashError);
    expect(toUf2(regions, 0xe48bff56).length % 512).toBe(0);
  });
});

/**
 * A tool as wedged as a J-Link DLL can get: it ignores SIGTERM, and so does the helper it started (as tockloader
 * starts JLinkExe). It prints both process ids, and with `ready` creates that file once the helper ignores SIGTERM
 * too (so a test stops it only once it is as wedged as it gets).
 */
const wedged = (ready?: string) => [
  process.execPath,
  "-e",
  `const { spawn } = require("node:child_process");
  process.on("SIGTERM", () => {});
  const helper = spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); process.send('up'); setInterval(() => {}, 1000)"], { stdio: ["ignore", "ignore", "ignore", "ipc"] });
  helper.on("message", () => {
    console.log("pids", process.pid, helper.pid);
    ${ready ? `require("node:fs").writeFileSync(${JSON.stringify(ready)}, "");` : ""}
  });
  setInterval(() => {}, 1000);`,
];

/** Whether a process still runs (a zombie does not: nothing reaps orphans in some containers). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] !== "Z";
  } catch {
    return false;
  }
}

const pidsOf = (output: string) => (/pids (\d+) (\d+)/.exec(output)?.slice(1) ?? []).map(Number);
const logger = pino({ level: "silent" });

describe("running a tool", () => {
  it("kills a tool that ignores SIGTERM, and what it started, soon after the job's signal aborts", async () => {
    const controller = new AbortController();
    const ready = join(mkdtempSync(join(tmpdir(), "wedged-")), "ready");
    const run = runTool(wedged(ready), { timeoutMs: 60_000, signal: controller.signal, logger });
    // Stop it once both processes are up and ignore SIGTERM.
    await expect.poll(() => existsSync(ready), { timeout: 10_000, interval: 20 }).toBe(true);
    const t0 = performance.now();
    controller.abort(new Error("the job was cancelled"));
    const result = await run;
    const took = performance.now() - t0;
    expect(result).toMatchObject({ ok: false, failure: "cancelled", stopReason: "the job was cancelled", timeoutBySignal: false });
    expect(took).toBeGreaterThanOrEqual(STOP_KILL_GRACE_MS - 50);
    expect(took).toBeLessThan(STOP_KILL_GRACE_MS + 500);
    const pids = pidsOf(result.output);
    expect(pids).toHaveLength(2);
    expect(pids.filter(alive)).toEqual([]);
    expect(classifyToolFailure(result, ctx).message).toMatch(
      /^cancelled: b: writing k was stopped \(the job was cancelled\); node was killed/,
    );
  });

  it("kills a tool that ignores SIGTERM after its own timeout and the kill grace", async () => {
    const t0 = performance.now();
    const result = await runTool(wedged(), { timeoutMs: 1_000, killGraceMs: 200, logger });
    expect(result.failure).toBe("timeout");
    expect(performance.now() - t0).toBeLessThan(2_500);
    // Both were up (they printed their ids) and neither outlived the kill.
    const pids = pidsOf(result.output);
    expect(pids).toHaveLength(2);
    expect(pids.filter(alive)).toEqual([]);
  });

  it("does not start a tool when the signal has already aborted", async () => {
    const result = await runTool(["sh", "-c", "echo ran"], {
      timeoutMs: 1_000,
      signal: AbortSignal.abort(new Error("shutting down")),
      logger,
    });
    expect(result).toMatchObject({ ok: false, failure: "cancelled", stopReason: "shutting down", output: "" });
  });
});
