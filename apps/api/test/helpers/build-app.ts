/** Builds the API plugin on real Postgres and Redis for inject() tests, and tears everything down. */
import Fastify from "fastify";
import type { FastifyInstance, RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { pino } from "pino";
import app from "../../src/app.ts";
import { createPrisma } from "../../src/db.ts";
import type { PrismaClient } from "../../src/db.ts";
import { parseEnv } from "../../src/env.ts";
import type { Env } from "../../src/env.ts";
import { createOrchestrator } from "../../src/jobs/orchestrator.ts";
import type { Orchestrator } from "../../src/jobs/orchestrator.ts";
import type { SuiteCatalog } from "../../src/suites.ts";
import { ensureAdminToken } from "../../src/services/tokens.ts";
import { WorkSignal } from "../../src/work-signal.ts";
import { createTestDatabase, dropRedisPrefix, TEST_REDIS_URL, uniquePrefix } from "./services.ts";

/**
 * A fixed catalog, so API tests do not depend on how the real suites evolve: one two-role radio suite shaped like
 * ieee802154's core (radio_tx on tx, radio_rx on tx + rx), re-running a failed test once.
 */
export const TEST_SUITES: SuiteCatalog = new Map([
  [
    "ieee802154",
    {
      name: "ieee802154",
      description: "test suite",
      roles: [
        { name: "tx", boardType: "nrf52840dk", firmware: ["nrf52840dk", "radio_tx"] },
        { name: "rx", boardType: "nrf52840dk", firmware: ["nrf52840dk", "radio_rx"] },
      ],
      tests: [
        { name: "radio_tx", description: "", roles: ["tx"] },
        { name: "radio_rx", description: "", roles: ["tx", "rx"] },
      ],
      timeoutMs: 60_000,
      reruns: 1,
    },
  ],
]);

export const ADMIN_TOKEN = "hil_admin_test-token-0123456789abcdef";

export type TestApp = {
  fastify: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
  prisma: PrismaClient;
  env: Env;
  orchestrator: Orchestrator;
  /** Base URL when built with `listen` (for clients that need a real socket, e.g. FakeRunner). */
  url: string;
  close: () => Promise<void>;
};

export type TestAppOptions = { suites?: SuiteCatalog; listen?: boolean };

/** The API plugin on a fresh database and BullMQ prefix; `overrides` are environment variables. */
export async function buildTestApp(overrides: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  const env = parseEnv({
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    HIL_QUEUE_PREFIX: uniquePrefix(),
    HIL_DATA_DIR: `/tmp/${uniquePrefix()}`,
    HIL_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: "silent",
    ...overrides,
  });
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const prisma = createPrisma(env.DATABASE_URL, 5);
  await ensureAdminToken(prisma, env.HIL_ADMIN_TOKEN);
  const workSignal = new WorkSignal();
  const orchestrator = await createOrchestrator({
    prisma,
    redisUrl: env.REDIS_URL,
    prefix: env.HIL_QUEUE_PREFIX,
    logger,
    workSignal,
    maxAttempts: env.HIL_MAX_ATTEMPTS,
    queueTimeoutMs: env.HIL_QUEUE_TIMEOUT_MS,
    boardBadAfter: env.HIL_BOARD_BAD_AFTER,
    heartbeatIntervalMs: env.HIL_HEARTBEAT_INTERVAL_MS,
    runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS,
    attemptGraceMs: env.HIL_ATTEMPT_GRACE_MS,
    reconcileIntervalMs: env.HIL_RECONCILE_INTERVAL_MS,
  });
  const fastify = Fastify({ loggerInstance: logger });
  await fastify.register(app, { env, prisma, orchestrator, workSignal, suites: options.suites ?? TEST_SUITES });
  let url = "";
  if (options.listen) url = await fastify.listen({ host: "127.0.0.1", port: 0 });
  else await fastify.ready();
  return {
    fastify,
    prisma,
    env,
    orchestrator,
    url,
    close: async () => {
      await fastify.close();
      await orchestrator.close();
      await prisma.$disconnect();
      await db.drop();
      await dropRedisPrefix(env.HIL_QUEUE_PREFIX);
    },
  };
}

/** Uploads the images TEST_SUITES needs (an nrf52840dk kernel and the two radio apps), so runs can be planned. */
export async function uploadTestFirmware(t: Pick<TestApp, "fastify">): Promise<void> {
  for (const [name, kind] of [
    ["nrf52840dk", "kernel"],
    ["radio_tx", "tbf"],
    ["radio_rx", "tbf"],
  ] as const) {
    const res = await t.fastify.inject({
      method: "POST",
      url: `/api/v1/artifacts?name=${name}&kind=${kind}&boardType=nrf52840dk`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/octet-stream" },
      payload: Buffer.from(`image of ${name}`),
    });
    if (res.statusCode !== 201) throw new Error(`uploading ${name} failed: ${res.statusCode} ${res.body}`);
  }
}

/**
 * Registers a runner with nRF52840DK boards of these names, all passed their health check, as hil-runner would;
 * `sync` announces the boards again and `call` posts to a runner endpoint with the runner's token.
 */
export async function registerTestRunner(t: Pick<TestApp, "fastify">, name: string, boards: string[]) {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const reg = (await t.fastify.inject({ method: "POST", url: "/api/v1/registration-tokens", headers: admin, payload: {} })).json().token;
  const registered = (
    await t.fastify.inject({ method: "POST", url: "/api/v1/runner/register", payload: { registrationToken: reg, name } })
  ).json();
  const token = registered.token as string;
  const headers = { authorization: `Bearer ${token}` };
  const sync = () =>
    t.fastify.inject({
      method: "PUT",
      url: "/api/v1/runner/boards",
      headers,
      payload: { boards: boards.map((b) => ({ name: b, type: "nrf52840dk" })) },
    });
  await sync();
  for (const b of boards) {
    const res = await t.fastify.inject({
      method: "POST",
      url: `/api/v1/runner/boards/${b}/health`,
      headers,
      payload: { ok: true, message: "ok" },
    });
    if (res.json().health !== "good") throw new Error(`board ${b} did not become good: ${res.body}`);
  }
  const call = (url: string, payload: unknown) =>
    t.fastify.inject({ method: "POST", url: `/api/v1/runner${url}`, headers, payload: payload as object });
  return { id: registered.runnerId as string, token, sync, call };
}
