/**
 * Redis restarting empty under a running API (no persistence, or a flush): the job schedulers that live only
 * in Redis (timeout sweep, runner reaper, reconciliation, reports and nightlies) come back, and a run whose
 * expansion was lost is expanded, without restarting the API.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertRun, planRun } from "../src/services/runs.ts";
import { buildTestApp, uploadTestFirmware } from "./helpers/build-app.ts";
import type { TestApp } from "./helpers/build-app.ts";
import { TEST_REDIS_URL, dropRedisPrefix } from "./helpers/services.ts";

let t: TestApp;
let redis: Redis;

beforeAll(async () => {
  // Reconciliation would expand the run on its own timer; here only the reconnect may do it.
  t = await buildTestApp({ HIL_RECONCILE_INTERVAL_MS: "3600000" });
  await uploadTestFirmware(t);
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  redis?.disconnect();
  await t?.close();
});

/** What a Redis restart does to this API: its keys are gone and its connections drop. */
async function restartRedisEmpty(): Promise<number> {
  await dropRedisPrefix(t.env.HIL_QUEUE_PREFIX);
  const clients = ((await redis.call("CLIENT", "LIST")) as string).split("\n");
  const ours = clients.filter((c) => c.includes(` name=hil-api:${t.env.HIL_QUEUE_PREFIX}:`)).map((c) => /\bid=(\d+)/.exec(c)![1]!);
  for (const id of ours) await redis.call("CLIENT", "KILL", "ID", id);
  return ours.length;
}

describe("Redis restarted empty", () => {
  it("puts every job scheduler back, expands a run whose expansion was lost and catches up, without an API restart", async () => {
    const before = (await t.orchestrator.schedulerIds()).sort();
    expect(before).toEqual(expect.arrayContaining(["hil.attempts.sweep", "hil.runners.reap", "hil.runs.reconcile", "hil.runs.report"]));
    // Written like POST /runs writes a run, its expansion then lost with Redis.
    const parameters = await planRun(t.prisma, t.fastify.deps.suites, { suites: ["ieee802154"] });
    const run = await insertRun(t.prisma, { trigger: "manual", priority: 100, parameters });

    let caughtUp = 0;
    t.orchestrator.onReconnected(async () => caughtUp++);

    expect(await restartRedisEmpty()).toBeGreaterThanOrEqual(2);
    await expect
      .poll(async () => (await t.orchestrator.schedulerIds().catch(() => [])).sort(), { timeout: 15_000, interval: 100 })
      .toEqual(before);
    await expect.poll(() => t.prisma.job.count({ where: { runId: run.id } }), { timeout: 15_000, interval: 100 }).toBe(1);
    // Then the catch-up work (the GitHub plugin's missed nightlies) runs once.
    await expect.poll(() => caughtUp, { timeout: 5_000 }).toBe(1);

    // The restored sweep runs: a queued job past its queue deadline is ended by it, as before the restart.
    await t.prisma.job.updateMany({ where: { runId: run.id }, data: { queueDeadline: new Date(Date.now() - 1000) } });
    await expect
      .poll(async () => (await t.prisma.job.findFirstOrThrow({ where: { runId: run.id } })).endReason, { timeout: 15_000, interval: 100 })
      .toBe("queue_timeout");
  });
});
