/**
 * The dispatcher in process, against a real Postgres: what happens to a lease nobody is left to receive, and
 * how one pass serves several waiting requests.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrisma, createSqlPool } from "../src/db.ts";
import type { PrismaClient } from "../src/db.ts";
import { Dispatcher } from "../src/services/allocator.ts";
import { WorkSignal } from "../src/work-signal.ts";
import { insertJob, insertJobs } from "./helpers/jobs.ts";
import { createTestDatabase } from "./helpers/services.ts";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
let pool: pg.Pool;
let dispatcher: Dispatcher;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrisma(db.url, 4);
  pool = createSqlPool(db.url, 4);
  dispatcher = new Dispatcher({
    pool,
    prisma,
    workSignal: new WorkSignal(),
    logger: pino({ level: "silent" }),
    settings: {
      agingPerMinute: 1,
      priorityStep: 50,
      runnerTimeoutMs: 30_000,
      steps: { fetchMs: 1000, flashMs: 1000, bootMs: 1000, testMs: 1000 },
    },
  });
});
afterAll(async () => {
  await dispatcher?.close();
  await pool?.end();
  await prisma?.$disconnect();
  await db?.drop();
});

async function runnerWithBoards(name: string, type: string, boards: number) {
  const runner = await prisma.runner.create({ data: { name, tokenHash: randomUUID(), lastSeenAt: new Date() } });
  for (let i = 0; i < boards; i++) await prisma.board.create({ data: { runnerId: runner.id, name: `b${i}`, type, health: "good" } });
  return runner.id;
}

describe("dispatcher", () => {
  it("puts a job back in the queue when the request it was leased to went away during the pass", async () => {
    const runnerId = await runnerWithBoards("gone", "gone", 1);
    const { jobId } = await insertJob(prisma, { boards: 1, boardType: "gone" });
    const aborted = new AbortController();
    // The pass starts within lease() (it takes its snapshot of waiting requests at once); the request is gone
    // before the pass commits, so the placement it made has nobody to go to.
    const first = dispatcher.lease(runnerId, 5000, aborted.signal);
    aborted.abort();
    expect(await first).toEqual({ lease: null, healthCheck: null });
    // The claim happened (startedAt is set) and was taken back: queued again, no attempt left behind.
    await expect
      .poll(
        async () => {
          const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId } });
          return { status: job.status, claimed: job.startedAt !== null, attempts: await prisma.attempt.count({ where: { jobId } }) };
        },
        { timeout: 5000 },
      )
      .toEqual({ status: "queued", claimed: true, attempts: 0 });
    // The job is not lost: the next request gets it, as the first attempt.
    const second = await dispatcher.lease(runnerId, 5000);
    expect(second.lease).toMatchObject({ jobId, attemptNumber: 1, roles: [{ role: "r0", board: "b0" }] });
  });

  it("hands a lease whose request went away to another waiting request of the same runner", async () => {
    const runnerId = await runnerWithBoards("other", "other", 1);
    const { jobId } = await insertJob(prisma, { boards: 1, boardType: "other" });
    const aborted = new AbortController();
    const first = dispatcher.lease(runnerId, 5000, aborted.signal);
    const second = dispatcher.lease(runnerId, 5000);
    aborted.abort();
    expect(await first).toEqual({ lease: null, healthCheck: null });
    expect((await second).lease).toMatchObject({ jobId, attemptNumber: 1 });
    expect(await prisma.attempt.count({ where: { jobId } })).toBe(1);
  });

  it("serves many waiting requests of several runners at once, one lease each, never a board twice", async () => {
    const a = await runnerWithBoards("many-a", "many", 3);
    const b = await runnerWithBoards("many-b", "many", 2);
    const jobs = [];
    for (let i = 0; i < 8; i++) jobs.push((await insertJob(prisma, { boards: 1, boardType: "many" })).jobId);
    const requests = [a, a, a, b, b, b].map((runner) => dispatcher.lease(runner, 2000));
    const answers = await Promise.all(requests);
    const leases = answers.map((x) => x.lease).filter((l) => l !== null);
    // Five boards: five leases; the sixth request (b's third) waits out its long poll empty-handed.
    expect(leases).toHaveLength(5);
    expect(new Set(leases.map((l) => l.jobId)).size).toBe(5);
    const boards = await prisma.attemptBoard.findMany({ where: { attempt: { status: "running", jobId: { in: jobs } } } });
    expect(new Set(boards.map((x) => x.boardId)).size).toBe(5);
  });

  it("looks past a head of the queue that cannot start to give idle boards the job that fits them", async () => {
    const runnerId = await runnerWithBoards("deep", "deep", 2);
    // More than a head's worth of older jobs no board here can run (their boards must share a group, and these
    // have none), then one that fits: it must not wait behind them until their queue timeout.
    await insertJobs(prisma, 1100, { boards: 2, boardType: "deep", sameGroup: true, ageMs: 60_000 });
    const { jobId } = await insertJob(prisma, { boards: 1, boardType: "deep" });
    const decision = await dispatcher.lease(runnerId, 3000);
    expect(decision.lease).toMatchObject({ jobId });
  });

  it("shares boards between projects of one priority even when one project's flood was queued minutes earlier", async () => {
    const runnerId = await runnerWithBoards("fair", "fair", 2);
    await insertJobs(prisma, 20, { boards: 1, boardType: "fair", project: "flood", ageMs: 5 * 60_000 });
    const { jobId } = await insertJob(prisma, { boards: 1, boardType: "fair", project: "late" });
    // Two boards free at once: one job of each project, although five minutes of aging put the flood ahead.
    const leases = (await Promise.all([dispatcher.lease(runnerId, 3000), dispatcher.lease(runnerId, 3000)])).map((d) => d.lease);
    expect(leases.map((l) => l?.jobId)).toContain(jobId);
    expect(leases.filter((l) => l !== null)).toHaveLength(2);
  });

  it("says why a board waiting for its health check cannot have one, and writes that once, not on every pass", async () => {
    const runner = await prisma.runner.create({ data: { name: "nokernel", tokenHash: randomUUID(), lastSeenAt: new Date() } });
    const board = await prisma.board.create({ data: { runnerId: runner.id, name: "n0", type: "nokernel", health: "unknown" } });
    expect(await dispatcher.lease(runner.id, 1500)).toEqual({ lease: null, healthCheck: null });
    const first = await prisma.board.findUniqueOrThrow({ where: { id: board.id } });
    expect(first.healthMessage).toBe("no kernel image for nokernel has been uploaded, so the health check cannot run");
    // The row version: it changes with every write to the row.
    const version = async () => (await pool.query(`SELECT xmin::text AS v FROM "Board" WHERE id = $1`, [board.id])).rows[0].v as string;
    const before = await version();
    // More passes (the long poll above took part in at least one per second) leave the row alone.
    expect(await dispatcher.lease(runner.id, 1500)).toEqual({ lease: null, healthCheck: null });
    expect(await version()).toBe(before);
  });
});
