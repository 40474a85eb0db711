/**
 * Postgres going away under a running API (a restart, a failover, a maintenance lock): requests answer 503 with a
 * code and a Retry-After rather than a 500, nothing half-written is left, and the API serves again once
 * Postgres is back, without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, buildTestApp, uploadTestFirmware } from "./helpers/build-app.ts";
import type { TestApp } from "./helpers/build-app.ts";
import { planRun, insertRun } from "../src/services/runs.ts";
import { adminQuery } from "./helpers/services.ts";

let t: TestApp;
let database: string;
const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  // Reconciliation is called by the tests themselves, so a periodic one cannot race them.
  t = await buildTestApp({ HIL_RECONCILE_INTERVAL_MS: "3600000" });
  database = new URL(t.env.DATABASE_URL).pathname.slice(1);
  await uploadTestFirmware(t);
});
afterAll(async () => {
  await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`).catch(() => {});
  await t?.close();
});

/** A planned run written as POST /runs writes it, with its expansion left to the test. */
async function queuedRun(): Promise<string> {
  const parameters = await planRun(t.prisma, t.fastify.deps.suites, { suites: ["ieee802154"] });
  const run = await insertRun(t.prisma, { trigger: "manual", priority: 100, parameters });
  return run.id;
}
const jobsOf = (runId: string) => t.prisma.job.count({ where: { runId } });

/** Refuses new connections to the app's database and ends the ones it holds, as a restarting server does. */
async function takeDown() {
  await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
  await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`);
}

describe("Postgres unavailable", () => {
  it("answers 503 DATABASE_UNAVAILABLE with Retry-After, keeps nothing of the request, and serves again once it is back", async () => {
    expect((await t.fastify.inject({ method: "GET", url: "/api/v1/runs", headers })).statusCode).toBe(200);
    await takeDown();
    try {
      const read = await t.fastify.inject({ method: "GET", url: "/api/v1/runs", headers });
      expect(read.statusCode).toBe(503);
      expect(read.headers["retry-after"]).toBe("1");
      expect(read.json()).toEqual({
        error: { code: "DATABASE_UNAVAILABLE", message: "the database is unavailable (connection lost or refused); retry shortly" },
      });
      // A load balancer's readiness probe says which dependency is missing.
      const ready = await t.fastify.inject({ method: "GET", url: "/readyz" });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ status: "not_ready", problems: [expect.stringMatching(/^postgres: /)] });
      const write = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", headers, payload: { suites: ["ieee802154"] } });
      expect(write.statusCode).toBe(503);
      expect(write.json().error.code).toBe("DATABASE_UNAVAILABLE");
    } finally {
      await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    }
    // Back without a restart: the pools open fresh connections, and the refused run was never half-created.
    expect((await t.fastify.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
    const after = await t.fastify.inject({ method: "GET", url: "/api/v1/runs", headers });
    expect(after.statusCode).toBe(200);
    expect(after.json().runs).toEqual([]);
    const created = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", headers, payload: { suites: ["ieee802154"] } });
    expect(created.statusCode).toBe(201);
  });
});

describe("run expansion through an outage", () => {
  it("retries a run's expansion while Postgres is away and expands it once it is back", async () => {
    const runId = await queuedRun();
    await takeDown();
    try {
      await t.orchestrator.enqueue("hil.run.expand", { runId }, { jobId: `expand-${runId}` });
      // It has failed at least once against the locked database and waits for its next try.
      await expect
        .poll(async () => (await t.orchestrator.queue.getJob(`expand-${runId}`))?.attemptsMade ?? 0, { timeout: 10_000, interval: 50 })
        .toBeGreaterThan(0);
      expect(await t.orchestrator.queue.getJob(`expand-${runId}`).then((j) => j?.getState())).toBe("delayed");
    } finally {
      await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    }
    await expect.poll(() => jobsOf(runId), { timeout: 15_000, interval: 100 }).toBe(1);
  });

  it("expands again a run whose expansion failed for good or was lost with Redis, and only once", async () => {
    const failedRun = await queuedRun();
    const lostRun = await queuedRun();
    await takeDown();
    try {
      // One try only, so it fails for good while Postgres is away (as eight would through a long outage).
      await t.orchestrator.queue.add("hil.run.expand", { runId: failedRun }, { jobId: `expand-${failedRun}`, attempts: 1 });
      await expect
        .poll(async () => (await t.orchestrator.queue.getJob(`expand-${failedRun}`))?.getState(), { timeout: 10_000, interval: 50 })
        .toBe("failed");
    } finally {
      await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    }
    expect(await jobsOf(failedRun)).toBe(0);
    // lostRun never had an expand job at all, as after a Redis flush.
    expect((await t.orchestrator.reconcile()).sort()).toEqual([failedRun, lostRun].sort());
    await expect.poll(async () => [await jobsOf(failedRun), await jobsOf(lostRun)], { timeout: 10_000, interval: 100 }).toEqual([1, 1]);
    expect(await t.orchestrator.reconcile()).toEqual([]);
    expect([await jobsOf(failedRun), await jobsOf(lostRun)]).toEqual([1, 1]);
  });
});
