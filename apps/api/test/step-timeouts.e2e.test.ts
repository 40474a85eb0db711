/**
 * The queue timeout and the runner's per-step bounds, end to end with the real API and `hil-runner`: each ends with
 * its precise status and reason. (A flash tool's own timeout, with real tool processes, is in the runner's hardware tests.)
 */
import type { ResultItem, Run } from "@tock-hil/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { call, startStack, waitForRun } from "./helpers/processes.ts";
import type { Stack } from "./helpers/processes.ts";

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function runOnce(s: Stack, body: Record<string, unknown> = {}) {
  const run = (await call<Run>(s.api.url, "POST", "/api/v1/runs", { suites: ["ieee802154"], ...body })).body;
  const final = await waitForRun<Run>(s.api.url, run.id, 60_000);
  const results = (await call<{ results: ResultItem[] }>(s.api.url, "GET", `/api/v1/runs/${run.id}/results`)).body.results;
  return { final, results, attempt: final.jobs[0]!.attempts[0]! };
}

describe("queue timeout", () => {
  it("ends a job no runner can host as error (queue_timeout), saying why, with every test not_run", async () => {
    // One board: the radio suite needs several in one group on one runner, so its job can never start.
    stack = await startStack({ boards: 1, apiEnv: { HIL_QUEUE_TIMEOUT_MS: "1500" } });
    const { final, results } = await runOnce(stack);
    expect(final.status).toBe("error");
    expect(final.jobs[0]).toMatchObject({ status: "error", endReason: "queue_timeout", attempts: [] });
    expect(final.message).toMatch(
      /^ieee802154: queue_timeout: not started within 1\.5 s: no runner has \d × nrf52840dk in one group on one runner$/,
    );
    expect(results.length).toBeGreaterThan(0);
    for (const r of results)
      expect(r).toMatchObject({ status: "not_run", message: expect.stringMatching(/^queue_timeout: not started within 1\.5 s/) });
  });
});

describe("step timeouts", () => {
  it("ends a board that never prints after reset as boot_timeout (infra), never as a test failure", async () => {
    stack = await startStack();
    const { final, attempt, results } = await runOnce(stack, { faults: { bootHang: ["radio_rx"] } });
    expect(final.status).toBe("error");
    expect(attempt).toMatchObject({ status: "error", endReason: "boot_timeout" });
    expect(attempt.message).toMatch(/role rx\) printed nothing within \d+ ms of reset/);
    expect(results.every((r) => r.status === "error")).toBe(true);
  });

  it("ends the attempt as flash_timeout when a board's probe stops answering, then health-checks the board", async () => {
    stack = await startStack({ apiEnv: { HIL_STEP_FLASH_MS: "500" } });
    const { final, attempt, results } = await runOnce(stack, { faults: { flashHang: ["radio_rx"] } });
    expect(final.status).toBe("error");
    expect(attempt).toMatchObject({ status: "error", endReason: "flash_timeout" });
    expect(attempt.message).toMatch(/^flashing nrf-\d \(role rx\) took longer than 500 ms$/);
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => r.status === "error")).toBe(true);
    // The board is in doubt after a flash timeout: it gets a health check (which passes: the fault was the job's)
    // on top of the one every new board gets, and is good again.
    const board = /flashing (nrf-\d)/.exec(attempt.message ?? "")![1]!;
    const checks = () =>
      stack!.runner
        .output()
        .split("\n")
        .filter((l) => l.includes('"msg":"health check done"') && l.includes(`"board":"${board}"`) && l.includes('"ok":true'));
    await expect.poll(() => checks().length, { timeout: 15_000 }).toBe(2);
    const boards = (await call<{ boards: { name: string; health: string }[] }>(stack.api.url, "GET", "/api/v1/boards")).body.boards;
    expect(boards.find((b) => b.name === board)?.health).toBe("good");
  });

  it("marks a test that outlives its wall-time bound as error (timed out) and goes on with the next test", async () => {
    stack = await startStack({ emulationSpeed: 5, apiEnv: { HIL_STEP_TEST_MS: "400" } });
    const { final, attempt, results } = await runOnce(stack);
    expect(attempt).toMatchObject({ status: "completed" });
    expect(final.status).toBe("error");
    const tx = results.find((r) => r.test === "radio_tx")!;
    expect(tx).toMatchObject({ status: "error", message: "test timed out after 400 ms (wall time)" });
    expect(results.length).toBeGreaterThan(1); // the later tests still ran (and timed out too)
  });

  it("ends the attempt as fetch_timeout when the firmware cannot be fetched in time", async () => {
    stack = await startStack({ apiEnv: { HIL_STEP_FETCH_MS: "1" } });
    const { attempt } = await runOnce(stack);
    expect(attempt).toMatchObject({ status: "error", endReason: "fetch_timeout" });
    expect(attempt.message).toMatch(/fetching firmware took longer than 1 ms/);
  });
});
