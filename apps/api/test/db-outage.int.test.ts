/**
 * Postgres going away under a running API (a restart, a failover, a maintenance lock): requests answer 503 with a
 * code and a Retry-After rather than a 500, nothing half-written is left, and the API serves again once
 * Postgres is back, without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, buildTestApp, uploadTestFirmware } from "./helpers/build-app.ts";
import type { TestApp } from "./helpers/build-app.ts";
import { adminQuery } from "./helpers/services.ts";

let t: TestApp;
let database: string;
const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  t = await buildTestApp();
  database = new URL(t.env.DATABASE_URL).pathname.slice(1);
  await uploadTestFirmware(t);
});
afterAll(async () => {
  await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`).catch(() => {});
  await t?.close();
});

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
      const write = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", headers, payload: { suites: ["ieee802154"] } });
      expect(write.statusCode).toBe(503);
      expect(write.json().error.code).toBe("DATABASE_UNAVAILABLE");
    } finally {
      await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    }
    // Back without a restart: the pools open fresh connections, and the refused run was never half-created.
    const after = await t.fastify.inject({ method: "GET", url: "/api/v1/runs", headers });
    expect(after.statusCode).toBe(200);
    expect(after.json().runs).toEqual([]);
    const created = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", headers, payload: { suites: ["ieee802154"] } });
    expect(created.statusCode).toBe(201);
  });
});
