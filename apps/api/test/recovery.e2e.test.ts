/**
 * Cancellation and runner loss with the real processes: the API, real `hil-runner`s driving emulated labs throttled
 * to a few times real time (so a test is still running when we act on it), Postgres and Redis.
 */
import type { ResultItem, Run } from "@tock-hil/protocol";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { call, startStack, waitForRun } from "./helpers/processes.ts";
import type { ManagedProcess, Stack } from "./helpers/processes.ts";

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const getRun = async (s: Stack, id: string) => (await call<Run>(s.api.url, "GET", `/api/v1/runs/${id}`)).body;
const results = async (s: Stack, id: string) =>
  (await call<{ results: ResultItem[] }>(s.api.url, "GET", `/api/v1/runs/${id}/results`)).body.results;

/** Timestamps (epoch ms) of the runner's log lines with this message. */
function logTimes(runner: ManagedProcess, msg: string): { time: number; line: Record<string, unknown> }[] {
  return runner
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg)
    .map((line) => ({ time: line.time as number, line }));
}

describe("cancellation", () => {
  it("stops the runner within 2 seconds, frees the boards and ends the run cancelled with unfinished tests not_run", async () => {
    stack = await startStack({ emulationSpeed: 5 });
    const s = stack;
    const run = (await call<Run>(s.api.url, "POST", "/api/v1/runs", { suites: ["ieee802154"] })).body;
    // radio_tx (10 virtual s = 2 s here) finishes first; cancel while radio_rx (61 virtual s = 12 s) is running.
    await expect
      .poll(async () => (await results(s, run.id)).some((r) => r.test === "radio_tx"), { timeout: 30_000, interval: 100 })
      .toBe(true);
    const cancelledAt = Date.now();
    const res = await call<Run>(s.api.url, "POST", `/api/v1/runs/${run.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("cancelled");

    await expect.poll(() => logTimes(s.runner, "attempt done").length, { timeout: 10_000, interval: 50 }).toBe(1);
    const done = logTimes(s.runner, "attempt done")[0]!;
    expect(done.line.status).toBe("cancelled");
    expect(done.time - cancelledAt).toBeLessThan(2000);

    const items = await results(s, run.id);
    expect(items.find((r) => r.test === "radio_tx")?.status).toBe("pass");
    const rest = items.filter((r) => r.test !== "radio_tx");
    expect(rest.length).toBeGreaterThan(0);
    for (const r of rest) {
      expect(r.status).toBe("not_run");
      expect(r.message).toMatch(/attempt cancelled: cancelled by api token/);
    }
    const boards = (await call<{ boards: { state: string }[] }>(s.api.url, "GET", "/api/v1/boards")).body.boards;
    expect(boards.every((b) => b.state === "idle")).toBe(true);
  });
});

describe("runner loss", () => {
  it("retries on another runner after a SIGKILL mid-job, keeps exactly one final result per test, and doubts the lost boards", async () => {
    stack = await startStack({
      emulationSpeed: 5,
      apiEnv: { HIL_RUNNER_TIMEOUT_MS: "2000", HIL_MAX_ATTEMPTS: "2", HIL_HEARTBEAT_INTERVAL_MS: "300" },
    });
    const s = stack;
    const run = (await call<Run>(s.api.url, "POST", "/api/v1/runs", { suites: ["ieee802154"], seed: 3 })).body;
    await expect.poll(async () => (await getRun(s, run.id)).jobs[0]?.attempts.length ?? 0, { timeout: 30_000, interval: 100 }).toBe(1);
    const first = (await getRun(s, run.id)).jobs[0]!.attempts[0]!;
    expect(first.runner).toBe("e2e-lab");
    // Killed once the first attempt has reported a result, so its results are stored when it is given up.
    await expect
      .poll(async () => s.prisma.testResult.count({ where: { attemptId: first.id } }), { timeout: 30_000, interval: 50 })
      .toBeGreaterThan(0);
    s.runner.child.kill("SIGKILL");
    // Another lab comes to the rescue (unthrottled): it must get the retry once the API notices the loss.
    await s.addRunner("e2e-lab-2", { emulationSpeed: 100_000 });

    const final = await waitForRun<Run>(s.api.url, run.id, 90_000);
    expect(final.status).toBe("passed");
    const attempts = final.jobs[0]!.attempts;
    expect(attempts.map((a) => [a.status, a.endReason])).toEqual([
      ["error", "runner_lost"],
      ["completed", "completed"],
    ]);
    expect(attempts[1]!.runner).toBe("e2e-lab-2");
    const items = await results(s, run.id);
    const planned = (await s.prisma.job.findUniqueOrThrow({ where: { id: final.jobs[0]!.id } })).tests;
    expect(planned.length).toBeGreaterThan(1);
    expect(items.map((r) => r.test).sort()).toEqual([...planned].sort());
    expect(items.every((r) => r.attempt === 2 && r.status === "pass")).toBe(true);
    // What is stored: each test exactly once per attempt (the lost attempt's reported results and its error fills,
    // then the retry's), and nothing the killed runner sent after it was given up.
    const stored = await s.prisma.testResult.findMany({ where: { jobId: final.jobs[0]!.id }, include: { attempt: true } });
    const perAttempt = (n: number) =>
      stored
        .filter((r) => r.attempt.number === n)
        .map((r) => `${r.test}#${r.try}`)
        .sort();
    const tests = [...planned].sort().map((t) => `${t}#1`);
    expect(perAttempt(1)).toEqual(tests);
    expect(perAttempt(2)).toEqual(tests);
    expect(stored).toHaveLength(2 * tests.length);
    expect(stored.filter((r) => r.attempt.number === 1 && r.status === "error").every((r) => /runner_lost/.test(r.message ?? ""))).toBe(
      true,
    );
    const boards = (await call<{ boards: { name: string; runner: string; health: string }[] }>(s.api.url, "GET", "/api/v1/boards")).body
      .boards;
    const lostBoards = new Set(Object.values(first.boards));
    const lost = boards.filter((b) => b.runner === "e2e-lab" && lostBoards.has(b.name));
    expect(lost.length).toBe(lostBoards.size);
    expect(lost.every((b) => b.health === "unknown")).toBe(true);
  });
});

describe("database connections cut", () => {
  it("keeps the API up when Postgres ends every connection mid-run, and the run finishes with one result per test", async () => {
    stack = await startStack({ emulationSpeed: 20 });
    const s = stack;
    const run = (await call<Run>(s.api.url, "POST", "/api/v1/runs", { suites: ["ieee802154"], seed: 5 })).body;
    await expect.poll(async () => (await results(s, run.id)).length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
    // What a Postgres restart, a failover or an operator's pg_terminate_backend does to the API: every
    // connection of its database ends at once, idle ones in its pools and ones in the middle of a statement.
    const database = new URL(s.api.env.DATABASE_URL!).pathname.slice(1);
    const cut = async () => {
      const admin = new pg.Client({ connectionString: s.api.env.DATABASE_URL });
      await admin.connect();
      try {
        const { rows } = await admin.query(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [database],
        );
        return rows[0].n as number;
      } finally {
        await admin.end();
      }
    };
    expect(await cut()).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    await cut();

    const final = await waitForRun<Run>(s.api.url, run.id, 90_000);
    expect(s.api.child.exitCode).toBeNull();
    const bad = s.api
      .output()
      .split("\n")
      .filter((l) => /uncaught|unhandled|"level":[56]0/i.test(l));
    expect(bad).toEqual([]);
    // The cut reached the hot path's pool, and it was heard rather than left to end the process.
    expect(s.api.output()).toContain("a pooled Postgres connection was lost");
    expect(final.status).toBe("passed");
    const attempts = final.jobs[0]!.attempts;
    expect(attempts.map((a) => a.status)).toEqual(["completed"]);
    const planned = (await s.prisma.job.findUniqueOrThrow({ where: { id: final.jobs[0]!.id } })).tests;
    const stored = await s.prisma.testResult.findMany({ where: { jobId: final.jobs[0]!.id } });
    expect(stored.map((r) => `${r.test}#${r.try}`).sort()).toEqual([...planned].sort().map((t) => `${t}#1`));
    expect(stored.every((r) => r.status === "pass")).toBe(true);
  });
});
