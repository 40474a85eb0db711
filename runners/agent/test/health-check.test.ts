/**
 * The health check on an emulated board: a board that boots and answers passes; a probe that stops answering ends
 * the check within its flash bound, with the reason, instead of holding the runner.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Faults } from "@tock-hil/board";
import { buildFirmware, createEmulatedLab } from "@tock-hil/emulator";
import type { HealthCheck } from "@tock-hil/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiClient } from "../src/api-client.ts";
import { FirmwareCache } from "../src/firmware-cache.ts";
import { runHealthCheck } from "../src/health-check.ts";

const kernel = buildFirmware("nrf52840dk");
let dir: string;
let cache: FirmwareCache;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hil-health-"));
  // The kernel is already in the cache, so the check never needs the API.
  await mkdir(join(dir, kernel.sha256.slice(0, 2)), { recursive: true });
  await writeFile(join(dir, kernel.sha256.slice(0, 2), kernel.sha256), kernel.bytes);
  cache = new FirmwareCache(dir, {} as ApiClient);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** An emulated lab whose every session carries `faults` (health checks begin a fault-free session of their own). */
function labWith(faults: Faults) {
  const lab = createEmulatedLab({ boards: [{ name: "nrf-1", type: "nrf52840dk" }] });
  const begin = lab.beginSession.bind(lab);
  lab.beginSession = (session) => begin({ ...session, faults });
  return lab;
}

const check: HealthCheck = {
  board: "nrf-1",
  firmware: [{ name: kernel.name, kind: kernel.kind, sha256: kernel.sha256, size: kernel.bytes.length, flash: true }],
  bootTimeoutMs: 2000,
  flashTimeoutMs: 300,
};

describe("health check", () => {
  it("passes a board that boots and answers the process console", async () => {
    const outcome = await runHealthCheck(check, labWith({}), cache, new AbortController().signal);
    expect(outcome).toEqual({ ok: true, message: expect.stringContaining("booted and the process console answered") });
  });

  it("fails within its flash bound when the probe stops answering", async () => {
    const started = Date.now();
    const outcome = await runHealthCheck(check, labWith({ flashHang: ["all"] }), cache, new AbortController().signal);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toMatch(/^flash failed \(timeout\): nrf-1: the debug probe stopped answering/);
  });
});
