/**
 * An API on real Postgres and Redis for the GitHub integration tests: like buildTestApp, but with a catalog of
 * single-board suites (so path filters have something to choose from), optionally listening (for FakeRunner), and
 * helpers to sign and send webhook deliveries.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import Fastify from "fastify";
import type { FastifyInstance, RawServerDefault } from "fastify";
import type { Logger } from "pino";
import { pino } from "pino";
import app from "../../src/app.ts";
import { createPrisma } from "../../src/db.ts";
import type { PrismaClient } from "../../src/db.ts";
import { parseEnv } from "../../src/env.ts";
import type { Env } from "../../src/env.ts";
import { signBody } from "../../src/github/signature.ts";
import { createOrchestrator } from "../../src/jobs/orchestrator.ts";
import { ensureAdminToken } from "../../src/services/tokens.ts";
import type { SuiteCatalog } from "../../src/suites.ts";
import { WorkSignal } from "../../src/work-signal.ts";
import { ADMIN_TOKEN } from "./build-app.ts";
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from "./services.ts";

export { ADMIN_TOKEN };
export const WEBHOOK_SECRET = "test-webhook-secret-0123456789";

const suite = (name: string, boardType: string, app: string, test: string) => ({
  name,
  description: `${name} test suite`,
  roles: [{ name: "dut", boardType, firmware: [boardType, app] }],
  tests: [{ name: test, description: "", roles: ["dut"] }],
  timeoutMs: 60_000,
});

/** Three one-board suites: two radio suites on nRF52840DK and an Ethernet suite on another board type. */
export const GITHUB_SUITES: SuiteCatalog = new Map([
  ["ieee802154", suite("ieee802154", "nrf52840dk", "radio_tx", "radio_tx")],
  ["openthread", suite("openthread", "nrf52840dk", "ot_hello", "attach")],
  ["ethernet", suite("ethernet", "nucleo_f429zi", "eth_echo", "echo")],
]);

export type GithubTestApp = {
  fastify: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
  prisma: PrismaClient;
  env: Env;
  /** Base URL when `listen` was set. */
  url: string;
  close: () => Promise<void>;
};

export async function buildGithubTestApp(options: { env?: Record<string, string>; listen?: boolean } = {}): Promise<GithubTestApp> {
  const db = await createTestDatabase();
  const env = parseEnv({
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    HIL_QUEUE_PREFIX: uniquePrefix(),
    HIL_DATA_DIR: `/tmp/${uniquePrefix()}`,
    HIL_ADMIN_TOKEN: ADMIN_TOKEN,
    HIL_MAX_ATTEMPTS: "1",
    GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
    HIL_PUBLIC_URL: "https://hil.example.org",
    HIL_REPORT_INTERVAL_MS: "200",
    LOG_LEVEL: "silent",
    ...options.env,
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
  });
  const fastify = Fastify({ loggerInstance: logger });
  await fastify.register(app, { env, prisma, orchestrator, workSignal, suites: GITHUB_SUITES });
  let url = "";
  if (options.listen) url = await fastify.listen({ host: "127.0.0.1", port: 0 });
  else await fastify.ready();
  return {
    fastify,
    prisma,
    env,
    url,
    close: async () => {
      await fastify.close();
      await orchestrator.close();
      await prisma.$disconnect();
      await db.drop();
    },
  };
}

export const auth = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

/** Sends a webhook delivery as GitHub does: JSON body, event and delivery headers, HMAC signature. */
export async function deliver(
  t: GithubTestApp,
  event: string,
  payload: unknown,
  options: { deliveryId?: string; secret?: string | null; signature?: string } = {},
) {
  const body = JSON.stringify(payload);
  const deliveryId = options.deliveryId ?? randomUUID();
  const signature = options.signature ?? (options.secret === null ? undefined : signBody(options.secret ?? WEBHOOK_SECRET, body));
  const res = await t.fastify.inject({
    method: "POST",
    url: "/api/v1/github/webhook",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": deliveryId,
      "user-agent": "GitHub-Hookshot/abc123",
      ...(signature ? { "x-hub-signature-256": signature } : {}),
    },
    payload: body,
  });
  return { res, deliveryId, json: res.json() };
}

/** Uploads firmware bytes (optionally linked to a commit) so runs can be planned. */
export async function uploadFirmware(t: GithubTestApp, name: string, boardType: string, bytes: Buffer, commit?: string) {
  const res = await t.fastify.inject({
    method: "POST",
    url: `/api/v1/artifacts?name=${name}&kind=${name === boardType ? "kernel" : "tbf"}&boardType=${boardType}${commit ? `&commit=${commit}` : ""}`,
    headers: { ...auth(), "content-type": "application/octet-stream" },
    payload: bytes,
  });
  if (res.statusCode >= 300) throw new Error(`upload ${name}: ${res.statusCode} ${res.body}`);
  return res.json<{ sha256: string }>();
}

/** Firmware for every suite of GITHUB_SUITES. */
export async function uploadAllFirmware(t: GithubTestApp): Promise<void> {
  for (const [name, boardType] of [
    ["nrf52840dk", "nrf52840dk"],
    ["radio_tx", "nrf52840dk"],
    ["ot_hello", "nrf52840dk"],
    ["nucleo_f429zi", "nucleo_f429zi"],
    ["eth_echo", "nucleo_f429zi"],
  ] as const) {
    await uploadFirmware(t, name, boardType, Buffer.from(`${name} image v1`));
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
