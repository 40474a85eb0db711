/**
 * The API process: configuration, migrations, bootstrap admin token, BullMQ orchestrator, HTTP listener and a
 * two-stage shutdown (first signal drains, a second one or the grace delay forces the exit).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import closeWithGrace from "close-with-grace";
import Fastify from "fastify";
import { pino } from "pino";
import app from "./app.ts";
import { createPrisma } from "./db.ts";
import { applyMigrations } from "./db/migrate.ts";
import { parseEnv } from "./env.ts";
import { createOrchestrator } from "./jobs/orchestrator.ts";
import { loggerOptions } from "./logger.ts";
import { ensureAdminToken } from "./services/tokens.ts";
import { suiteCatalog } from "./suites.ts";
import { WorkSignal } from "./work-signal.ts";

let env;
try {
  env = parseEnv(process.env);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
const logger = pino(loggerOptions(env.LOG_LEVEL, "api"));
const dataDir = resolve(env.HIL_DATA_DIR);
await mkdir(dataDir, { recursive: true });

const applied = await applyMigrations(env.DATABASE_URL);
if (applied.length > 0) logger.info({ applied }, "database migrations applied");

const prisma = createPrisma(env.DATABASE_URL, env.HIL_DB_POOL_SIZE);
const admin = await ensureAdminToken(prisma, env.HIL_ADMIN_TOKEN);
if (admin.created && admin.token) {
  const file = join(dataDir, "admin-token");
  await writeFile(file, `${admin.token}\n`, { mode: 0o600 });
  logger.info({ file }, "created the bootstrap admin token (HIL_ADMIN_TOKEN was not set); it is in this file");
}

const workSignal = new WorkSignal();
const orchestrator = await createOrchestrator({
  prisma,
  redisUrl: env.REDIS_URL,
  prefix: env.HIL_QUEUE_PREFIX,
  logger: logger.child({ component: "orchestrator" }),
  workSignal,
  maxAttempts: env.HIL_MAX_ATTEMPTS,
  queueTimeoutMs: env.HIL_QUEUE_TIMEOUT_MS,
  boardBadAfter: env.HIL_BOARD_BAD_AFTER,
  heartbeatIntervalMs: env.HIL_HEARTBEAT_INTERVAL_MS,
  runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS,
  attemptGraceMs: env.HIL_ATTEMPT_GRACE_MS,
  reconcileIntervalMs: env.HIL_RECONCILE_INTERVAL_MS,
});
await orchestrator.reconcile();

const fastify = Fastify({
  loggerInstance: logger,
  // Long-polling leases hold requests open for up to 30 s; keep the timeouts above that.
  requestTimeout: 60_000,
  keepAliveTimeout: 65_000,
  bodyLimit: 4 * 1024 * 1024,
});
await fastify.register(app, { env, prisma, orchestrator, workSignal, suites: suiteCatalog });

closeWithGrace({ delay: 10_000, logger }, async ({ signal, err }) => {
  if (err) logger.error({ err }, "shutting down after an error");
  else logger.info({ signal }, "shutting down");
  // Order: stop taking requests (and let in-flight ones finish), then background work, then connections.
  await fastify.close();
  await orchestrator.close();
  await prisma.$disconnect();
});

try {
  await fastify.listen({ host: env.HOST, port: env.PORT });
} catch (err) {
  logger.fatal({ err }, `cannot listen on ${env.HOST}:${env.PORT}; set HOST/PORT to a free address`);
  process.exit(1);
}
