/**
 * The runner daemon (Agent and attempt runner) against a fake API (helpers/fake-api.ts) that controls timing
 * exactly: how an attempt ends when the job's bound, a cancellation or an API outage meets each of its steps, on an
 * emulated lab and on hardware boards behind pseudo-terminals with wedged flash tools (helpers/pty-lab.ts).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Board, Lab, Suite, SuiteManifest, TestCase } from "@tock-hil/board";
import { buildFirmware, createEmulatedLab } from "@tock-hil/emulator";
import type { BuiltFirmware } from "@tock-hil/emulator";
import type { Lease } from "@tock-hil/protocol";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHardwareLab } from "../src/adapters/hardware-lab.ts";
import { Agent } from "../src/agent.ts";
import { ApiClient } from "../src/api-client.ts";
import type { RetryPolicy } from "../src/api-client.ts";
import { testBound } from "../src/attempt-runner.ts";
import { sleep as abortableSleep } from "../src/signals.ts";
import { parseRunnerEnv } from "../src/env.ts";
import { FirmwareCache } from "../src/firmware-cache.ts";
import { HardwareBoardConfig, LabConfig } from "../src/lab-config.ts";
import { FakeApi } from "./helpers/fake-api.ts";
import { PtyLab } from "./helpers/pty-lab.ts";

const kernel = buildFirmware("nrf52840dk");
const app = buildFirmware("radio_tx");
const badApp = { ...buildFirmware("radio_tx", { corruptHeader: true }), name: "radio_tx_bad" };

type LogLine = { msg: string; level: number; [key: string]: unknown };
type Harness = { api: FakeApi; agent: Agent; logs: LogLine[]; stopped: boolean };
let harnesses: Harness[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A wall-time wait that ends when `signal` aborts, as a well-behaved test waits. */
const waitOrStop = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const leased = (fw: BuiltFirmware) => ({ name: fw.name, kind: fw.kind, sha256: fw.sha256, size: fw.bytes.length, flash: true });

function lease(overrides: Partial<Lease> & { firmware?: BuiltFirmware[] } = {}): Lease {
  const { firmware = [kernel, app], ...rest } = overrides;
  return {
    attemptId: randomUUID(),
    attemptNumber: 1,
    jobId: randomUUID(),
    runId: randomUUID(),
    suite: "custom",
    tests: ["only"],
    roles: [{ role: "dut", board: "nrf-1", bootCheck: true, firmware: firmware.map(leased) }],
    seed: 1,
    faults: null,
    timeoutMs: 60_000,
    reruns: 0,
    steps: { fetchMs: 10_000, flashMs: 10_000, bootMs: 2_000, testMs: 300_000 },
    ...rest,
  };
}

/** A suite called `custom` with these tests on one `dut` role. */
function suiteOf(tests: { name: string; timeoutMs?: number; run: TestCase["run"] }[]): Map<string, Suite> {
  const manifest: SuiteManifest = {
    name: "custom",
    description: "tests written for the agent's tests",
    roles: [{ name: "dut", boardType: "nrf52840dk", firmware: [] }],
    tests: tests.map((t) => ({ name: t.name, description: t.name, roles: ["dut"], ...(t.timeoutMs ? { timeoutMs: t.timeoutMs } : {}) })),
    timeoutMs: 60_000,
  };
  return new Map([["custom", { manifest, tests: tests.map((t, i) => ({ ...manifest.tests[i]!, run: t.run })) }]]);
}

const passing = suiteOf([{ name: "only", run: async () => ({ status: "pass" }) }]);

async function startAgent(options: {
  suites: Map<string, Suite>;
  lab?: (api: FakeApi) => Lab;
  retry?: RetryPolicy;
  /** Settings of the fake API that the runner reads when it starts (the heartbeat interval). */
  configure?: (api: FakeApi) => void;
}): Promise<Harness> {
  const api = await FakeApi.start();
  options.configure?.(api);
  for (const fw of [kernel, app, badApp]) api.artifacts.set(fw.sha256, fw.bytes);
  const logs: LogLine[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const lab = options.lab?.(api) ?? createEmulatedLab({ boards: [{ name: "nrf-1", type: "nrf52840dk" }] });
  const dir = await mkdtemp(join(tmpdir(), "hil-agent-"));
  const client = new ApiClient(api.url, "runner-token", options.retry);
  const config = {
    ...LabConfig.parse({ name: "agent-test", boards: [{ name: "nrf-1", type: "nrf52840dk", adapter: "emulated" }] }),
    path: join(dir, "lab.yaml"),
    credentialsPath: join(dir, "credentials.json"),
    cachePath: join(dir, "cache"),
    workPath: join(dir, "work"),
  };
  const agent = new Agent({
    api: client,
    lab,
    config,
    cache: new FirmwareCache(config.cachePath, client),
    suites: options.suites,
    logger,
    leaseWaitMs: 500,
  });
  const harness: Harness = { api, agent, logs, stopped: false };
  harnesses.push(harness);
  await agent.start();
  return harness;
}

async function stopAgent(h: Harness) {
  if (h.stopped) return;
  h.stopped = true;
  h.agent.abortNow();
  await h.agent.stop(0);
  await h.api.close();
}

afterEach(async () => {
  for (const h of harnesses) await stopAgent(h);
  harnesses = [];
});

const finishOf = (api: FakeApi, attemptId: string, timeoutMs?: number) =>
  until(`the end of attempt ${attemptId}`, () => api.finishes.find((f) => f.attemptId === attemptId), timeoutMs);
const lines = (h: Harness, msg: string) => h.logs.filter((l) => l.msg === msg);

/** The emulated lab with a hook that runs when the attempt's session ends (the last step before the finish). */
function labEndingWith(onEnd: () => Promise<unknown> | void): Lab {
  const lab = createEmulatedLab({ boards: [{ name: "nrf-1", type: "nrf52840dk" }] });
  const end = lab.endSession.bind(lab);
  lab.endSession = async (signal) => {
    await end(signal);
    await onEnd();
  };
  return lab;
}

describe("the outcome of an attempt", () => {
  // [what ends the steps, lease overrides, expected end]
  const cases: [string, Partial<Lease> & { firmware?: BuiltFirmware[] }, { status: string; reason: string }][] = [
    ["the tests ran to their end", {}, { status: "completed", reason: "completed" }],
    ["a flash failed", { firmware: [kernel, badApp] }, { status: "error", reason: "flash_failed" }],
    ["the board never booted", { faults: { bootHang: ["all"] } }, { status: "error", reason: "boot_timeout" }],
  ];
  for (const [what, overrides, expected] of cases) {
    it(`is fixed when the steps end (${what}), even if the job's bound runs out while the boards are being halted after it`, async () => {
      // Halting the boards after the job is slow (a J-Link halt can take seconds): the cleanup ends well past the
      // job's bound of 3 s (roomy enough for the steps themselves on a loaded machine).
      const h = await startAgent({ suites: passing, lab: () => labEndingWith(() => sleep(4_000)) });
      const l = lease({ timeoutMs: 3_000, ...overrides });
      h.api.offer(l);
      const finish = await finishOf(h.api, l.attemptId);
      expect(finish.body).toMatchObject(expected);
      const leasedAt = h.api.leased.find((x) => x.attemptId === l.attemptId)!.at;
      expect(finish.at - leasedAt).toBeGreaterThan(3_000);
    });
  }

  it("is timeout, named as such in the logs, when the job's own bound ends a flash", async () => {
    const h = await startAgent({ suites: passing });
    const l = lease({
      timeoutMs: 1_000,
      faults: { flashHang: ["all"] },
      steps: { fetchMs: 10_000, flashMs: 60_000, bootMs: 2_000, testMs: 300_000 },
    });
    h.api.offer(l);
    const finish = await finishOf(h.api, l.attemptId);
    expect(finish.body).toEqual({ status: "error", reason: "timeout", message: "the suite did not finish within 1000 ms" });
    expect(lines(h, "the job's own time bound ran out; stopping the attempt")).toHaveLength(1);
    expect(lines(h, "attempt done")[0]).toMatchObject({ status: "error", reason: "timeout" });
  });
});

describe("cancellation", () => {
  // [step, lease overrides, fake API settings, the log line that shows the step is under way]
  const steps: [string, Partial<Lease>, (api: FakeApi) => void, string][] = [
    ["fetching firmware", {}, (api) => (api.artifactDelayMs = Infinity), "lab session note"],
    [
      "flashing",
      { faults: { flashHang: ["all"] }, steps: { fetchMs: 10_000, flashMs: 60_000, bootMs: 2_000, testMs: 300_000 } },
      () => {},
      "firmware ready",
    ],
    ["a test", { tests: ["waits"] }, () => {}, "test started"],
  ];
  const waits = suiteOf([{ name: "waits", run: async (ctx) => (await waitOrStop(60_000, ctx.signal), { status: "pass" }) }]);
  for (const [step, overrides, setUp, underWay] of steps) {
    it(`stops the attempt within 2 seconds while ${step}, and says the API ended it`, async () => {
      const h = await startAgent({ suites: waits });
      setUp(h.api);
      const l = lease(overrides);
      h.api.offer(l);
      await until(underWay, () => lines(h, underWay).length > 0);
      await sleep(100);
      h.api.cancel(l.attemptId);
      const finish = await finishOf(h.api, l.attemptId);
      expect(finish.body).toMatchObject({ status: "cancelled", reason: "cancelled" });
      expect(finish.at - h.api.ended.get(l.attemptId)!).toBeLessThan(2_000);
      // The heartbeat said who ended it; the log and the acknowledgement repeat it.
      const why = "the API ended the attempt as cancelled (cancelled): cancelled by api token tester";
      expect(lines(h, `${why}; stopping it`)).toHaveLength(1);
      expect(finish.body.message).toContain(why);
      expect(lines(h, "attempt done")[0]).toMatchObject({ status: "cancelled" });
    });
  }

  const generic = "the API ended the attempt (cancelled, timed out or given up); stopping it";
  const answers: ["none" | "malformed" | "unknown", string, (attemptId: string) => string][] = [
    ["none", "does not say why", () => generic],
    ["malformed", "explains in a form it cannot read", () => generic],
    [
      "unknown",
      "says it has no such attempt",
      (id) => `the API has no such attempt for this runner (this runner has no attempt ${id}); stopping it`,
    ],
  ];
  for (const [answer, what, line] of answers) {
    it(`still stops at once when the API's heartbeat answer ${what}`, async () => {
      const h = await startAgent({ suites: waits });
      h.api.stopsAnswer = answer;
      const l = lease({ tests: ["waits"] });
      h.api.offer(l);
      await until("test started", () => lines(h, "test started").length > 0);
      h.api.cancel(l.attemptId);
      const finish = await finishOf(h.api, l.attemptId);
      expect(finish.body).toMatchObject({ status: "cancelled", reason: "cancelled" });
      expect(finish.at - h.api.ended.get(l.attemptId)!).toBeLessThan(2_000);
      expect(lines(h, line(l.attemptId))).toHaveLength(1);
    });
  }

  it("logs what the API says when it had already ended the attempt, and does not retry that report", async () => {
    let attemptId = "";
    const h = await startAgent({ suites: passing, lab: (api) => labEndingWith(() => api.cancel(attemptId)) });
    const l = lease();
    attemptId = l.attemptId;
    h.api.offer(l);
    await finishOf(h.api, l.attemptId);
    const refused = await until("the refused report", () => lines(h, "the API had already ended the attempt")[0]);
    expect(refused.apiMessage).toMatch(/already ended as cancelled/);
    // It moved on: the next lease is run and reported.
    const next = lease();
    h.api.offer(next);
    expect((await finishOf(h.api, next.attemptId)).body.status).toBe("completed");
    expect(h.api.finishes.filter((f) => f.attemptId === l.attemptId)).toHaveLength(1);
  });
});

describe("reporting the end of an attempt while the API is down", () => {
  // The client's own retries give up after ~50 ms, so any outage is "longer than the retries".
  const retry: RetryPolicy = { retries: 1, baseDelayMs: 20, maxDelayMs: 50 };

  it("retries until the API is back, so a completed attempt is not lost", async () => {
    const h = await startAgent({ suites: passing, retry, lab: (api) => labEndingWith(() => api.down()) });
    const l = lease();
    h.api.offer(l);
    await until("the attempt to end", () => lines(h, "attempt done").length > 0);
    await sleep(2_500);
    expect(h.api.finishes).toHaveLength(0);
    await h.api.up();
    const finish = await finishOf(h.api, l.attemptId, 10_000);
    expect(finish.body).toEqual({ status: "completed", reason: "completed" });
  });

  it("still shuts down in two stages: keeps trying through the grace period, gives up soon after a second signal", async () => {
    const h = await startAgent({ suites: passing, retry, lab: (api) => labEndingWith(() => api.down()) });
    h.api.offer(lease());
    await until("the attempt to end", () => lines(h, "attempt done").length > 0);
    h.stopped = true;
    let done = false;
    const stopping = h.agent.stop(100).then(() => (done = true));
    await sleep(1_000);
    expect(done).toBe(false); // past the grace period, still trying to report
    const t0 = performance.now();
    h.agent.abortNow();
    await stopping;
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(lines(h, "stopped before the API took the end of the attempt; it will end it as runner_lost")).toHaveLength(1);
  });
});

describe("heartbeats", () => {
  it("keep exactly one loop when a lease arrives while a heartbeat is in flight", async () => {
    const busy = suiteOf([{ name: "only", run: async (ctx) => (await waitOrStop(2_000, ctx.signal), { status: "pass" }) }]);
    const g = await startAgent({
      suites: busy,
      configure: (api) => {
        api.heartbeatIntervalMs = 200;
        api.heartbeatDelayMs = 150;
      },
    });
    await until("a heartbeat in flight while the runner polls for work", () => g.api.inFlightHeartbeats > 0 && g.api.polling);
    const l = lease();
    g.api.offer(l);
    const finish = await finishOf(g.api, l.attemptId);
    const start = g.api.leased.find((x) => x.attemptId === l.attemptId)!.at;
    const during = g.api.heartbeats.filter((b) => b.attemptIds.includes(l.attemptId));
    // One loop beats once per (interval + answer time); two loops would beat twice as often.
    const period = Math.min(g.api.heartbeatIntervalMs, 500) + 150;
    expect(during.length).toBeLessThanOrEqual(Math.ceil((finish.at - start) / period) + 1);
    expect(g.api.maxInFlightHeartbeats).toBe(1);
  });
});

describe("tests", () => {
  it("keep the attempt's cleanup budget when a cancel comes while a timed-out test is given time to return", async () => {
    // The test ignores its signal; its own bound (300 ms) ends it, and while the runner waits for it to return the
    // API cancels the attempt. Ending the session (halting the boards) takes 600 ms and honours its signal.
    const stubborn = suiteOf([{ name: "stubborn", run: async () => (await sleep(3_000), { status: "pass" }) }]);
    let halted = false;
    const lab = () => {
      const emulated = createEmulatedLab({ boards: [{ name: "nrf-1", type: "nrf52840dk" }] });
      const end = emulated.endSession.bind(emulated);
      emulated.endSession = async (signal) => {
        await end(signal);
        await abortableSleep(600, signal);
        halted = true;
      };
      return emulated;
    };
    const h = await startAgent({ suites: stubborn, lab });
    const l = lease({ tests: ["stubborn"], steps: { fetchMs: 10_000, flashMs: 10_000, bootMs: 2_000, testMs: 300 } });
    h.api.offer(l);
    await until("test started", () => lines(h, "test started").length > 0);
    await sleep(600);
    h.api.cancel(l.attemptId);
    const finish = await finishOf(h.api, l.attemptId);
    expect(finish.body).toMatchObject({ status: "cancelled", reason: "cancelled" });
    expect(finish.at - h.api.ended.get(l.attemptId)!).toBeLessThan(2_000);
    expect(halted).toBe(true);
  });

  it("bound a test that declares none to a quarter of the job's bound, so a hung test ends alone", async () => {
    const suites = suiteOf([
      { name: "hangs", run: async (ctx) => (await waitOrStop(600_000, ctx.signal), { status: "pass" }) },
      { name: "quick", run: async () => ({ status: "pass" }) },
    ]);
    const h = await startAgent({ suites });
    // 8 s: a quarter is 2 s, and the fetch, flash and boot before it have 4 s before the end of the job would cut it.
    const l = lease({ tests: ["hangs", "quick"], timeoutMs: 8_000 });
    h.api.offer(l);
    expect((await finishOf(h.api, l.attemptId)).body).toEqual({ status: "completed", reason: "completed" });
    const results = h.api.results.filter((r) => r.attemptId === l.attemptId).map((r) => r.result);
    expect(results.map((r) => [r.test, r.status, r.message])).toEqual([
      ["hangs", "error", "test timed out after 2000 ms (wall time)"],
      ["quick", "pass", undefined],
    ]);
  });

  it("take the boards back from a test that ignores its signal, so it cannot drive them during the next test", async () => {
    const resets: number[] = [];
    const refusals: string[] = [];
    let afterStarted = Infinity;
    let stubborn = true;
    const suites = suiteOf([
      {
        name: "stubborn",
        timeoutMs: 300,
        run: async (ctx) => {
          // Never looks at its signal: resets the board every 30 ms until the file's tests are over.
          while (stubborn) {
            await sleep(30);
            await ctx.boards.dut!.reset().catch((err: unknown) => refusals.push((err as Error).message));
          }
          return { status: "pass" };
        },
      },
      {
        name: "after",
        run: async () => {
          afterStarted = performance.now();
          await sleep(1_000);
          return { status: "pass" };
        },
      },
    ]);
    const countingLab = () => {
      const emulated = createEmulatedLab({ boards: [{ name: "nrf-1", type: "nrf52840dk" }] });
      const board = emulated.boards[0]!;
      const counted: Board = {
        name: board.name,
        type: board.type,
        serial: board.serial,
        flash: (images, signal) => board.flash(images, signal),
        reset: (signal) => (resets.push(performance.now()), board.reset(signal)),
        halt: (signal) => board.halt(signal),
      };
      return { ...emulated, boards: [counted] } satisfies Lab;
    };
    try {
      const h = await startAgent({ suites, lab: countingLab });
      const l = lease({ tests: ["stubborn", "after"] });
      h.api.offer(l);
      expect((await finishOf(h.api, l.attemptId)).body.status).toBe("completed");
      const results = h.api.results.filter((r) => r.attemptId === l.attemptId).map((r) => r.result);
      expect(results.map((r) => [r.test, r.status, r.message])).toEqual([
        ["stubborn", "error", "test timed out after 300 ms (wall time)"],
        ["after", "pass", undefined],
      ]);
      expect(resets.filter((t) => t >= afterStarted)).toEqual([]);
      expect(refusals.length).toBeGreaterThan(0);
      expect(refusals[0]).toMatch(/test stubborn is over: resetting nrf-1 refused/);
      expect(lines(h, "the test did not return after it was stopped; its boards were taken back")).toHaveLength(1);
    } finally {
      stubborn = false;
    }
  });

  it("let a stopped test that honours its signal clean up its boards before they are taken back", async () => {
    let cleanedUp = false;
    const suites = suiteOf([
      {
        name: "only",
        timeoutMs: 300,
        run: async (ctx) => {
          try {
            await waitOrStop(60_000, ctx.signal);
            return { status: "pass" };
          } finally {
            await ctx.boards.dut!.halt();
            cleanedUp = true;
          }
        },
      },
    ]);
    const h = await startAgent({ suites });
    const l = lease();
    h.api.offer(l);
    await finishOf(h.api, l.attemptId);
    expect(cleanedUp).toBe(true);
    expect(lines(h, "the test did not return after it was stopped; its boards were taken back")).toHaveLength(0);
  });

  it("computes the bound from the test, HIL_STEP_TEST_MS and what is left of the job", () => {
    const job = { timeoutMs: 600_000, steps: { fetchMs: 1, flashMs: 1, bootMs: 1, testMs: 300_000 } };
    expect(testBound({}, job, 600_000)).toEqual({ ms: 150_000, cutToJob: false });
    expect(testBound({}, { ...job, steps: { ...job.steps, testMs: 400 } }, 600_000)).toEqual({ ms: 400, cutToJob: false });
    expect(testBound({ timeoutMs: 200_000 }, job, 600_000)).toEqual({ ms: 200_000, cutToJob: false });
    expect(testBound({}, job, 12_000)).toEqual({ ms: 10_000, cutToJob: true });
  });
});

describe("bounds beyond what a timer can wait", () => {
  it("are treated as the longest timer, not as an immediate timeout", async () => {
    const h = await startAgent({ suites: passing });
    const huge = 3_000_000_000;
    const l = lease({ timeoutMs: huge, steps: { fetchMs: huge, flashMs: huge, bootMs: 2_000, testMs: huge } });
    h.api.offer(l);
    expect((await finishOf(h.api, l.attemptId)).body).toEqual({ status: "completed", reason: "completed" });
    expect(h.api.results.find((r) => r.attemptId === l.attemptId)?.result.status).toBe("pass");
    expect(lines(h, "lease bounds beyond what a timer can wait are treated as about 24.8 days")).toHaveLength(1);
  });

  it("are refused in the runner's own environment with a message that says the limit", () => {
    expect(() => parseRunnerEnv({ HIL_RUNNER_SHUTDOWN_GRACE_MS: "3000000000" })).toThrow(
      /HIL_RUNNER_SHUTDOWN_GRACE_MS: must be at most 3600000 ms \(one hour\)/,
    );
    expect(parseRunnerEnv({ HIL_RUNNER_SHUTDOWN_GRACE_MS: "60000" }).HIL_RUNNER_SHUTDOWN_GRACE_MS).toBe(60_000);
  });
});

describe("cancellation on hardware boards with wedged tools", () => {
  const PROBE = "683000042";
  let pty: PtyLab;
  let workDir: string;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    pty = await PtyLab.start([{ name: "nrf-1", probe: PROBE }]);
    workDir = await mkdtemp(join(tmpdir(), "hil-agent-hw-"));
    // The adapter runs the fake tools through PATH, as the runner does on a lab machine.
    Object.assign(process.env, pty.env());
  });
  afterAll(async () => {
    process.env = savedEnv;
    await pty?.close();
  });

  const hardwareLab = () =>
    createHardwareLab({
      boards: [
        HardwareBoardConfig.parse({
          name: "nrf-1",
          type: "nrf52840dk",
          adapter: "hardware",
          serial: { device: pty.device("nrf-1") },
          probe: { kind: "jlink", serial: PROBE },
          flash: { method: "nrfjprog", timeoutMs: 60_000 },
          commandTimeoutMs: 60_000,
        }),
      ],
      workDir,
      logger: pino({ level: "silent" }),
    });

  /** Whether a process is still running (a zombie is dead: nothing reaps orphans in some containers). */
  const alive = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] !== "Z";
    } catch {
      return false;
    }
  };

  // [step, the probe action that hangs there]
  const steps: [string, string][] = [
    ["preparing the boards", "--halt"],
    ["flashing", "--program"],
    ["the boot check", "--reset"],
  ];
  for (const [step, action] of steps) {
    it(`stops within 2 seconds while ${step} although the tool ignores SIGTERM, and kills it`, async () => {
      const h = await startAgent({ suites: passing, lab: hardwareLab });
      const seen = pty.requests.length;
      pty.setHang(PROBE, { actions: [action], ignoreTerm: true });
      try {
        const l = lease();
        h.api.offer(l);
        const hung = await until(`nrfjprog ${action}`, () => pty.requests.slice(seen).find((r) => r.args.includes(action)));
        await sleep(200);
        h.api.cancel(l.attemptId);
        const finish = await finishOf(h.api, l.attemptId);
        expect(finish.body).toMatchObject({ status: "cancelled", reason: "cancelled" });
        expect(finish.at - h.api.ended.get(l.attemptId)!).toBeLessThan(2_000);
        expect(alive(hung.pid)).toBe(false);
        expect(pty.requests.slice(seen).filter((r) => alive(r.pid))).toEqual([]);
      } finally {
        pty.setHang(PROBE, undefined);
        await stopAgent(h);
      }
    });
  }
});
