/**
 * End to end across processes: the real API server and the real `hil-runner` with an emulated lab, on the real
 * Postgres and Redis. Firmware is built by the emulator's CLI and uploaded over REST like CI would.
 */
import { join } from "node:path";
import type { ResultItem, Run } from "@tock-hil/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAndUpload, call, startStack, waitForRun } from "./helpers/processes.ts";
import type { Stack } from "./helpers/processes.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

/** Runs the radio suite: the stack's lab has only nRF52840DKs, so other suites' jobs could never be placed. */
async function trigger(body: Record<string, unknown>) {
  const res = await call<Run>(stack.api.url, "POST", "/api/v1/runs", { suites: ["ieee802154"], ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.status).toBe("queued");
  return res.body;
}

const results = async (runId: string) =>
  (await call<{ results: ResultItem[] }>(stack.api.url, "GET", `/api/v1/runs/${runId}/results`)).body.results;
const byTest = (items: ResultItem[]) => Object.fromEntries(items.map((r) => [r.test, r]));

describe("a nightly on the emulated lab", () => {
  let passedRunId: string;

  it("runs radio_tx and radio_rx and stores passing results with their measurements", async () => {
    const run = await trigger({ ref: "main", seed: 7 });
    passedRunId = run.id;
    const final = await waitForRun<Run>(stack.api.url, run.id);
    expect(final.status, stack.runner.output().slice(-3000)).toBe("passed");
    const r = byTest(await results(run.id));
    expect(r.radio_tx).toMatchObject({ suite: "ieee802154", status: "pass", measurements: { expected: 40 } });
    expect(r.radio_tx!.measurements!.transmitted as number).toBeGreaterThanOrEqual(38);
    expect(r.radio_rx).toMatchObject({ status: "pass", measurements: { expected: 240 } });
    expect(r.radio_rx!.measurements!.received as number).toBeGreaterThanOrEqual(120);
    expect(r.radio_rx!.boards).toHaveLength(2);

    // The span a verdict was judged on can be read back and holds what the verdict counted.
    const span = r.radio_tx!.logSpan!;
    const attempt = final.jobs[0]!.attempts[0]!;
    const log = await fetch(`${stack.api.url}/api/v1/attempts/${attempt.id}/logs/${span.role}?start=${span.start}&end=${span.end}`).then(
      (x) => x.text(),
    );
    expect(log.split("\n").filter((l) => l === "Transmitted successfully.").length).toBe(r.radio_tx!.measurements!.transmitted);
  });

  it("fails radio_rx under heavy loss on the medium, with the ratio it reached in the message", async () => {
    const run = await trigger({ faults: { loss: 0.9 }, seed: 11 });
    const final = await waitForRun<Run>(stack.api.url, run.id);
    expect(final.status).toBe("failed");
    const r = byTest(await results(run.id));
    expect(r.radio_rx!.status).toBe("fail");
    expect(r.radio_rx!.message).toMatch(/received \d+ of 240 expected packets \(\d+\.\d%\), needs 50%/);
    expect(r.radio_rx!.measurements!.ratio as number).toBeLessThan(0.5);
    // Loss acts on receivers; the transmitter still sends.
    expect(r.radio_tx!.status).toBe("pass");
  });

  it("ends the attempt as an infra error naming the image when a TBF header is corrupted, never as a test failure", async () => {
    const bad = await buildAndUpload(stack.api.url, join(stack.workDir, "firmware-bad"), ["--corrupt-header", "radio_rx"]);
    const run = await trigger({ firmware: { radio_rx: bad.radio_rx!.sha256 } });
    const final = await waitForRun<Run>(stack.api.url, run.id);
    expect(final.status).toBe("error");
    const attempt = final.jobs[0]!.attempts[0]!;
    expect(attempt).toMatchObject({ status: "error", endReason: "flash_failed" });
    expect(attempt.message).toContain("radio_rx");
    expect(attempt.message).toMatch(/checksum/i);
    const items = await results(run.id);
    expect(items.length).toBeGreaterThanOrEqual(2);
    expect(new Set(items.map((i) => i.status))).toEqual(new Set(["error"]));
    expect(items.every((i) => i.message?.includes("radio_rx"))).toBe(true);
  });

  it("loses nothing when the API restarts, and the runner reconnects and keeps working", async () => {
    const before = (await call<{ runs: Run[] }>(stack.api.url, "GET", "/api/v1/runs?limit=50")).body.runs;
    const passedBefore = await results(passedRunId);
    await stack.restartApi();
    const after = (await call<{ runs: Run[] }>(stack.api.url, "GET", "/api/v1/runs?limit=50")).body.runs;
    expect(after.map((r) => [r.id, r.status])).toEqual(before.map((r) => [r.id, r.status]));
    expect(await results(passedRunId)).toEqual(passedBefore);

    // The corrupted radio_rx uploaded above is now the newest one; pin the good image.
    const run = await trigger({ suites: ["ieee802154"], seed: 7, firmware: { radio_rx: stack.firmware.radio_rx!.sha256 } });
    const final = await waitForRun<Run>(stack.api.url, run.id);
    expect(final.status).toBe("passed");
    // Same seed and firmware as the first run: the emulated lab is deterministic.
    expect((await results(run.id)).map((r) => r.measurements)).toEqual(passedBefore.map((r) => r.measurements));
  });
});
