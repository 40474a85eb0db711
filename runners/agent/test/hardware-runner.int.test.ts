/**
 * The real `hil-runner start` process with a lab.yaml of hardware boards, against the real API: an emulated
 * nRF52840DK behind a pseudo-terminal and fake flash tools (helpers/pty-lab.ts) plays the lab. Shows the health
 * check, jobs that pass, a reflash skipped for an identical image, leftover output kept out of the next job, each
 * flash failure class ending as an infra error with its reason, and a board going bad and coming back.
 */
import { randomUUID } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { execa } from "execa";
import type { ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, buildAndUpload, call, startApiOnly } from "../../../apps/api/test/helpers/processes.ts";
import { PtyLab } from "./helpers/pty-lab.ts";

const CLI = resolve(import.meta.dirname, "../bin/hil-runner.js");
const PROBE = "683000007";

type Api = Awaited<ReturnType<typeof startApiOnly>>;
let t: Api;
let pty: PtyLab;
let runner: ResultPromise;
let runnerOutput = "";
let labDir: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- runner output (tail) ---\n${runnerOutput.slice(-4000)}`);
    await sleep(200);
  }
}

const board = () => t.prisma.board.findFirstOrThrow({ where: { name: "nrf-1" } });
const health = (want: string) =>
  until(`board health ${want}`, async () =>
    (await t.prisma.board.findFirst({ where: { name: "nrf-1" } }))?.health === want ? true : undefined,
  );

/** A radio_tx job on the one board, inserted as planning would (the suite's other tests need more boards). */
async function insertRadioTxJob(app = "radio_tx"): Promise<string> {
  const fw = async (name: string) => {
    const a = await t.prisma.artifact.findFirstOrThrow({ where: { name }, orderBy: { createdAt: "desc" } });
    return { name: a.name, kind: a.kind, sha256: a.sha256, size: a.size, flash: true };
  };
  const project = await t.prisma.project.upsert({ where: { name: "default" }, update: {}, create: { name: "default" } });
  const run = await t.prisma.run.create({
    data: {
      projectId: project.id,
      trigger: "manual",
      seed: 1n,
      priority: 100,
      parameters: { suites: ["ieee802154"], boards: ["nrf52840dk"], faults: null, firmware: {}, plan: [] },
    },
  });
  const job = await t.prisma.job.create({
    data: {
      id: randomUUID(),
      runId: run.id,
      projectId: project.id,
      priority: 100,
      suite: "ieee802154",
      tests: ["radio_tx"],
      roles: [{ role: "tx", boardType: "nrf52840dk", tags: [], firmware: [await fw("nrf52840dk"), await fw(app)] }],
      timeoutMs: 60_000,
      reruns: 0,
      sameGroup: false,
      maxAttempts: 1,
    },
  });
  return job.id;
}

async function finishedAttempt(jobId: string) {
  return until(`job ${jobId} to end`, async () => {
    const a = await t.prisma.attempt.findFirst({ where: { jobId, status: { not: "running" } }, orderBy: { number: "desc" } });
    return a ?? undefined;
  });
}

async function attemptLog(attemptId: string, role: string): Promise<string> {
  const res = await fetch(`${t.api.url}/api/v1/attempts/${attemptId}/logs/${role}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return res.text();
}

beforeAll(async () => {
  pty = await PtyLab.start([{ name: "nrf-1", probe: PROBE }]);
  t = await startApiOnly({ HIL_BOARD_BAD_AFTER: "3", HIL_STEP_BOOT_MS: "3000" });
  await buildAndUpload(t.api.url, join(t.workDir, "firmware"));
  labDir = join(t.workDir, "lab");
  await mkdir(labDir, { recursive: true });
  await writeFile(
    join(labDir, "lab.yaml"),
    [
      "name: pty-lab",
      "boards:",
      "  - name: nrf-1",
      "    type: nrf52840dk",
      "    adapter: hardware",
      `    serial: { device: ${pty.device("nrf-1")}, baud: 115200 }`,
      `    probe: { kind: jlink, serial: "${PROBE}" }`,
      "    flash: { method: nrfjprog, timeoutMs: 2000 }",
      "    commandTimeoutMs: 3000",
      "",
    ].join("\n"),
  );
  const reg = await call<{ token: string }>(t.api.url, "POST", "/api/v1/registration-tokens", {});
  const registered = await execa(
    process.execPath,
    [CLI, "register", "--url", t.api.url, "--token", reg.body.token, "--config", join(labDir, "lab.yaml")],
    {
      reject: false,
      timeout: 60_000,
    },
  );
  expect(registered.exitCode, registered.stderr).toBe(0);
  runner = execa(process.execPath, [CLI, "start", "--config", join(labDir, "lab.yaml")], {
    env: { ...pty.env(), LOG_LEVEL: "debug", HIL_RUNNER_LEASE_WAIT_MS: "1000" },
    reject: false,
    all: true,
    buffer: false,
    forceKillAfterDelay: 10_000,
  });
  runner.all?.on("data", (d: Buffer) => (runnerOutput += d.toString()));
});

afterAll(async () => {
  if (runner?.exitCode === null) runner.kill("SIGTERM");
  await runner;
  await t?.close();
  await pty?.close();
});

describe("hil-runner start with hardware boards", () => {
  it("health-checks the board through the flash tool and the pty console, then runs a job that passes", async () => {
    await health("good");
    expect(pty.count("nrfjprog", "--program")).toBe(1);
    const attempt = await finishedAttempt(await insertRadioTxJob());
    expect(attempt.endReason, attempt.message ?? "").toBe("completed");
    expect(await attemptLog(attempt.id, "tx")).toContain("Initialization complete. Entering main loop");
  });

  it("skips the reflash of an identical image (recorded in the flash log artifact) and keeps leftover output out of the next job", async () => {
    const programs = pty.count("nrfjprog", "--program");
    await pty.inject("nrf-1", "LEFTOVER from before the job\r\n");
    const attempt = await finishedAttempt(await insertRadioTxJob());
    expect(attempt.endReason, attempt.message ?? "").toBe("completed");
    expect(pty.count("nrfjprog", "--program")).toBe(programs);
    const log = await attemptLog(attempt.id, "tx");
    expect(log).toContain("Transmitted successfully.");
    expect(log).not.toContain("LEFTOVER");
    const artifact = await t.prisma.attemptArtifact.findFirst({ where: { attemptId: attempt.id, name: "flash-nrf-1.log" } });
    expect(artifact).not.toBeNull();
    expect(runnerOutput).toContain("board already holds these images; not reflashed");
  });

  // [FlashError code, fault, repair, message, the attempt's endReason]
  const classes: [string, () => Promise<void>, () => Promise<void>, RegExp, string][] = [
    [
      "probe_not_found",
      async () => pty.setMode(PROBE, "absent"),
      async () => pty.setMode(PROBE, "ok"),
      /probe_not_found: nrf-1: nrfjprog could not find/,
      "flash_failed",
    ],
    [
      "timeout",
      async () => pty.setMode(PROBE, "hang"),
      async () => pty.setMode(PROBE, "ok"),
      /timeout: nrf-1: nrfjprog did not finish .* within 2000 ms/,
      "flash_timeout",
    ],
    [
      "verify_failed",
      async () => pty.setMode(PROBE, "verify_fail"),
      async () => pty.setMode(PROBE, "ok"),
      /verify_failed: nrf-1: nrfjprog wrote/,
      "flash_failed",
    ],
    [
      "tool_missing",
      () => rename(join(pty.binDir, "nrfjprog"), join(pty.binDir, "nrfjprog.away")),
      () => rename(join(pty.binDir, "nrfjprog.away"), join(pty.binDir, "nrfjprog")),
      /tool_missing: nrf-1: nrfjprog is not installed/,
      "flash_failed",
    ],
  ];
  for (const [name, inject, clear, message, endReason] of classes) {
    it(`ends a job whose flash fails with ${name} as an infra error (${endReason}) and health-checks the board after it`, async () => {
      // A different app, so the runner must flash (an identical image would be skipped).
      await inject();
      const attempt = await finishedAttempt(await insertRadioTxJob("radio_rx"));
      expect(attempt.status).toBe("error");
      expect(attempt.endReason, attempt.message ?? "").toBe(endReason);
      expect(attempt.message).toMatch(message);
      const results = await t.prisma.testResult.findMany({ where: { attemptId: attempt.id } });
      expect(results.map((r) => r.status)).toEqual(["error"]);
      expect((await board()).health).not.toBe("good");
      await clear();
      await health("good");
    });
  }

  it(`sends a board to bad after ${3} infra errors in a row, and back to good after an admin asks for a health check that passes`, async () => {
    pty.setMode(PROBE, "absent");
    // The job's flash fails, then every health check fails too: three infra errors in a row.
    await insertRadioTxJob();
    await health("bad");
    const bad = await board();
    expect(bad.infraErrors).toBe(3);
    expect(bad.healthMessage).toMatch(/probe_not_found/);
    pty.setMode(PROBE, "ok");
    // An admin puts the board back in line for a health check (PATCH /api/v1/boards/:id where the route exists).
    const patched = await call(t.api.url, "PATCH", `/api/v1/boards/${bad.id}`, { health: "unknown" });
    if (patched.status >= 300) await t.prisma.board.update({ where: { id: bad.id }, data: { health: "unknown" } });
    await health("good");
    expect((await board()).infraErrors).toBe(0);
  });

  it("stops within its grace period on SIGTERM", async () => {
    const t0 = Date.now();
    runner.kill("SIGTERM");
    await runner;
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(runnerOutput).toContain('"msg":"stopped"');
  });
});
