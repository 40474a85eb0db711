/**
 * Matrix benchmark (issue 6): a year of nightly history, about a million test results, in a fresh database, then
 * the server time of GET /api/v1/matrix (30 nights) measured through the real app. Goal: p95 under 100 ms.
 *
 * Shape: 365 nightly runs x 24 jobs (6 suites x 4 board slots rotating over 12 boards) x 114 tests = 998,640
 * results, 3% failing, 1% infra errors, 2% passing on a re-run. Seeded with set-based SQL (generate_series), so
 * the seed takes seconds, not the hours a million API calls would.
 *
 * `benchMatrix()` is what `npm run bench` calls; `node --import tsx bench/matrix.ts` runs it alone.
 */
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import Fastify from "fastify";
import pg from "pg";
import { pino } from "pino";
import app from "../apps/api/src/app.ts";
import { createPrisma } from "../apps/api/src/db.ts";
import { applyMigrations } from "../apps/api/src/db/migrate.ts";
import { parseEnv } from "../apps/api/src/env.ts";
import { createOrchestrator } from "../apps/api/src/jobs/orchestrator.ts";
import { suiteCatalog } from "../apps/api/src/suites.ts";
import { WorkSignal } from "../apps/api/src/work-signal.ts";
import { adminQuery, databaseUrl, dropRedisPrefix, TEST_REDIS_URL, uniquePrefix } from "../apps/api/test/helpers/services.ts";

export type MatrixBenchResult = {
  results: number;
  nights: number;
  rows: number;
  seedSeconds: number;
  /** First request after start: nothing cached yet (finished runs' cells are cached per process), server time. */
  coldMs: number;
  /** Server time reported by the endpoint (`serverMs`) over the samples. */
  p50Ms: number;
  p95Ms: number;
  /** Wall time of the whole in-process request including JSON serialisation. */
  requestP95Ms: number;
  samples: number;
};

const NIGHTS = 365;
const JOBS = 24;
const TESTS = 114;
const BOARDS = 12;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function seed(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Deterministic ids (md5 of a name, cast to uuid) let each statement find the rows the previous one wrote.
    await client.query(`
      INSERT INTO "Project" (id, name) VALUES (md5('project')::uuid, 'default');
      INSERT INTO "Runner" (id, name, "tokenHash", "lastSeenAt") VALUES (md5('runner')::uuid, 'bench-lab', 'x', now());
      INSERT INTO "Board" (id, "runnerId", name, type, health, "lastSeenAt")
        SELECT md5('board' || b)::uuid, md5('runner')::uuid, 'nrf-' || lpad(b::text, 2, '0'), 'nrf52840dk', 'good', now()
        FROM generate_series(0, ${BOARDS - 1}) b;
      INSERT INTO "Run" (id, "projectId", trigger, ref, parameters, seed, status, "createdAt", "startedAt", "finishedAt")
        SELECT md5('run' || n)::uuid, md5('project')::uuid, 'nightly', 'commit-' || n, '{"suites":[],"boards":[],"plan":[]}', 1,
          'passed', timestamptz '2025-11-01 02:00Z' + n * interval '1 day', timestamptz '2025-11-01 02:00Z' + n * interval '1 day',
          timestamptz '2025-11-01 03:00Z' + n * interval '1 day'
        FROM generate_series(0, ${NIGHTS - 1}) n;
      INSERT INTO "Job" (id, "runId", "projectId", suite, tests, roles, status, "timeoutMs", "createdAt", "finishedAt")
        SELECT md5('job' || n || '-' || j)::uuid, md5('run' || n)::uuid, md5('project')::uuid, 'suite-' || (j % 6), '{}', '[]',
          'passed', 60000, timestamptz '2025-11-01 02:00Z' + n * interval '1 day' + j * interval '1 second',
          timestamptz '2025-11-01 02:30Z' + n * interval '1 day'
        FROM generate_series(0, ${NIGHTS - 1}) n, generate_series(0, ${JOBS - 1}) j;
      INSERT INTO "Attempt" (id, "jobId", number, status, "endReason", "startedAt", "finishedAt")
        SELECT md5('att' || n || '-' || j)::uuid, md5('job' || n || '-' || j)::uuid, 1, 'completed', 'completed',
          timestamptz '2025-11-01 02:00Z' + n * interval '1 day', timestamptz '2025-11-01 02:30Z' + n * interval '1 day'
        FROM generate_series(0, ${NIGHTS - 1}) n, generate_series(0, ${JOBS - 1}) j;
      INSERT INTO "AttemptBoard" ("attemptId", "boardId", role)
        SELECT md5('att' || n || '-' || j)::uuid, md5('board' || ((j / 6 + n) % ${BOARDS}))::uuid, 'dut'
        FROM generate_series(0, ${NIGHTS - 1}) n, generate_series(0, ${JOBS - 1}) j;
    `);
    await client.query(`
      INSERT INTO "TestResult" (id, "attemptId", "jobId", suite, test, try, status, "durationMs", "createdAt")
        SELECT gen_random_uuid(), md5('att' || n || '-' || j)::uuid, md5('job' || n || '-' || j)::uuid, 'suite-' || (j % 6), 'test-' || t,
          CASE WHEN r < 0.02 THEN 2 ELSE 1 END,
          (CASE WHEN r < 0.02 THEN 'pass' WHEN r < 0.05 THEN 'fail' WHEN r < 0.06 THEN 'error' ELSE 'pass' END)::"TestStatus",
          100 + t, timestamptz '2025-11-01 02:00Z' + n * interval '1 day' + t * interval '1 second'
        FROM generate_series(0, ${NIGHTS - 1}) n, generate_series(0, ${JOBS - 1}) j, generate_series(0, ${TESTS - 1}) t,
          LATERAL (SELECT random() + 0 * n AS r) x;
    `);
    await client.query("ANALYZE");
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "TestResult"`);
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

export async function benchMatrix(options: { samples?: number; log?: (line: string) => void } = {}): Promise<MatrixBenchResult> {
  const log = options.log ?? (() => {});
  const samples = options.samples ?? 100;
  const name = `tock_hil_bench_matrix_${randomBytes(4).toString("hex")}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = databaseUrl(name);
  try {
    await applyMigrations(url);
    log(`seeding ${NIGHTS} nights x ${JOBS} jobs x ${TESTS} tests`);
    const t0 = performance.now();
    const results = await seed(url);
    const seedSeconds = (performance.now() - t0) / 1000;
    log(`seeded ${results} results in ${seedSeconds.toFixed(1)} s`);

    const env = parseEnv({
      DATABASE_URL: url,
      REDIS_URL: TEST_REDIS_URL,
      HIL_QUEUE_PREFIX: uniquePrefix(),
      LOG_LEVEL: "silent",
      HIL_DATA_DIR: `/tmp/${name}`,
    });
    const prisma = createPrisma(url, 4);
    const logger = pino({ level: "silent" });
    const workSignal = new WorkSignal();
    const orchestrator = await createOrchestrator({
      prisma,
      redisUrl: env.REDIS_URL,
      prefix: env.HIL_QUEUE_PREFIX,
      logger,
      workSignal,
      maxAttempts: 1,
      queueTimeoutMs: env.HIL_QUEUE_TIMEOUT_MS,
      boardBadAfter: env.HIL_BOARD_BAD_AFTER,
      heartbeatIntervalMs: env.HIL_HEARTBEAT_INTERVAL_MS,
      runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS,
    });
    const fastify = Fastify({ loggerInstance: logger });
    await fastify.register(app, { env, prisma, orchestrator, workSignal, suites: suiteCatalog });
    await fastify.ready();
    try {
      const server: number[] = [];
      const wall: number[] = [];
      let rows = 0;
      let nights = 0;
      for (let i = 0; i <= samples; i++) {
        const w0 = performance.now();
        const res = await fastify.inject({ method: "GET", url: "/api/v1/matrix?runs=30" });
        const took = performance.now() - w0;
        if (res.statusCode !== 200) throw new Error(`matrix answered ${res.statusCode}: ${res.body}`);
        const body = res.json<{ serverMs: number; rows: unknown[]; nights: unknown[] }>();
        rows = body.rows.length;
        nights = body.nights.length;
        server.push(body.serverMs);
        wall.push(took);
      }
      const coldMs = server.shift()!;
      wall.shift();
      const out = {
        results,
        nights,
        rows,
        seedSeconds,
        coldMs,
        p50Ms: pct(server, 50),
        p95Ms: pct(server, 95),
        requestP95Ms: pct(wall, 95),
        samples,
      };
      log(
        `matrix of ${rows} rows x ${nights} nights: server p50 ${out.p50Ms} ms, p95 ${out.p95Ms} ms (cold ${coldMs} ms), request p95 ${out.requestP95Ms.toFixed(1)} ms`,
      );
      return out;
    } finally {
      await fastify.close();
      await orchestrator.close();
      await prisma.$disconnect();
      // The job schedulers keep their keys after the queue closes; a bench leaves nothing behind.
      await dropRedisPrefix(env.HIL_QUEUE_PREFIX);
    }
  } finally {
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchMatrix({ log: (l) => process.stdout.write(`[bench:matrix] ${l}\n`) });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
