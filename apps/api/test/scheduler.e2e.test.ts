/**
 * The scheduler against the real API process, with runners speaking the real HTTP protocol (fake runners: no
 * boards, exact control over job durations and concurrency).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeRunner } from "./helpers/fake-runner.ts";
import { insertJob } from "./helpers/jobs.ts";
import { ADMIN, call, startApiOnly } from "./helpers/processes.ts";

type Api = Awaited<ReturnType<typeof startApiOnly>>;
let t: Api;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await startApiOnly({ HIL_ATTEMPT_GRACE_MS: "0" });
});
afterAll(async () => {
  await t?.close();
});

/** Boards that are in more than one running attempt right now (must always be none). */
async function doubleBooked(): Promise<unknown[]> {
  return t.prisma.$queryRaw`
    SELECT ab."boardId", count(*)::int AS n FROM "AttemptBoard" ab JOIN "Attempt" a ON a.id = ab."attemptId"
    WHERE a.status = 'running' GROUP BY ab."boardId" HAVING count(*) > 1`;
}

/** Leases and finishes jobs until told to stop; each job "runs" for `durationMs`. */
async function work(runner: FakeRunner, stop: { done: boolean }, durationMs: () => number, log?: (jobId: string) => void) {
  while (!stop.done) {
    const lease = await runner.lease(300);
    if (!lease) continue;
    log?.(lease.jobId);
    await sleep(durationMs());
    await runner.finish(lease.attemptId);
  }
}

describe("gang allocation", () => {
  it("never gives a board to two attempts or a job to two runners under concurrent leases", async () => {
    const runners = await Promise.all(
      Array.from({ length: 6 }, (_, r) =>
        FakeRunner.create(
          t.api.url,
          ADMIN,
          `conc-${r}`,
          Array.from({ length: 3 }, (_, b) => ({ name: `b${b}`, type: "bench" })),
        ),
      ),
    );
    const jobs: { runId: string; jobId: string }[] = [];
    for (let i = 0; i < 60; i++) jobs.push(await insertJob(t.prisma, { boards: 1 + (i % 3), project: `p${i % 2}` }));
    const stop = { done: false };
    const violations: unknown[] = [];
    const checker = (async () => {
      while (!stop.done) {
        violations.push(...(await doubleBooked()));
        await sleep(20);
      }
    })();
    // Three concurrent lease loops per runner: a runner may run several jobs on disjoint boards at once.
    const loops = runners.flatMap((r) => [0, 1, 2].map(() => work(r, stop, () => 5 + Math.random() * 20)));
    await expect
      .poll(() => t.prisma.job.count({ where: { status: "passed", id: { in: jobs.map((j) => j.jobId) } } }), {
        timeout: 60_000,
        interval: 200,
      })
      .toBe(60);
    stop.done = true;
    await Promise.all([...loops, checker]);
    expect(violations).toEqual([]);
    const attempts = await t.prisma.attempt.groupBy({ by: ["jobId"], where: { jobId: { in: jobs.map((j) => j.jobId) } }, _count: true });
    expect(attempts.map((a) => a._count)).toEqual(Array(60).fill(1));
  });

  it("keeps allocation atomic when two API processes schedule the same boards", async () => {
    const second = await t.startAnother();
    // Each runner's lease loops alternate between the two API processes, so both plan for the same boards.
    const runners = await Promise.all(
      Array.from({ length: 4 }, (_, r) =>
        FakeRunner.create(
          t.api.url,
          ADMIN,
          `two-${r}`,
          Array.from({ length: 2 }, (_, b) => ({ name: `b${b}`, type: "two" })),
        ),
      ),
    );
    const jobs: string[] = [];
    for (let i = 0; i < 120; i++) jobs.push((await insertJob(t.prisma, { boards: 1 + (i % 2), boardType: "two" })).jobId);
    const stop = { done: false };
    const violations: unknown[] = [];
    const checker = (async () => {
      while (!stop.done) {
        violations.push(...(await doubleBooked()));
        await sleep(1);
      }
    })();
    const loops = runners.flatMap((r) =>
      [t.api.url, second.url, t.api.url, second.url, t.api.url, second.url].map((url) => work(r.via(url), stop, () => Math.random() * 3)),
    );
    await expect
      .poll(() => t.prisma.job.count({ where: { status: "passed", id: { in: jobs } } }), { timeout: 60_000, interval: 200 })
      .toBe(120);
    stop.done = true;
    await Promise.all([...loops, checker]);
    expect(violations).toEqual([]);
    const attempts = await t.prisma.attempt.groupBy({ by: ["jobId"], where: { jobId: { in: jobs } }, _count: true });
    expect(attempts.map((a) => a._count)).toEqual(Array(120).fill(1));
  });

  it("does not starve a 4-board job under a stream of 1-board jobs", async () => {
    const runner = await FakeRunner.create(
      t.api.url,
      ADMIN,
      "stream",
      Array.from({ length: 4 }, (_, b) => ({ name: `s${b}`, type: "stream" })),
    );
    const stop = { done: false };
    const started: string[] = [];
    const small: string[] = [];
    // Keep the queue full of 1-board jobs, so without reservations a free board would always find a small job.
    const feeder = (async () => {
      while (!stop.done) {
        const queued = await t.prisma.job.count({
          where: { status: "queued", suite: "bench", roles: { path: ["0", "boardType"], equals: "stream" } },
        });
        for (let i = queued; i < 8; i++) small.push((await insertJob(t.prisma, { boards: 1, boardType: "stream" })).jobId);
        await sleep(5);
      }
    })();
    const loops = [0, 1, 2, 3].map(() =>
      work(
        runner,
        stop,
        () => 40 + Math.random() * 40,
        (id) => started.push(id),
      ),
    );
    // Jobs inserted straight into the database wake no lease request, so give the stream time to get going.
    await expect.poll(() => started.length, { timeout: 10_000, interval: 50 }).toBeGreaterThan(8);
    const big = await insertJob(t.prisma, { boards: 4, boardType: "stream" });
    const smallBefore = new Set(small);
    await expect.poll(() => started.includes(big.jobId), { timeout: 10_000, interval: 50 }).toBe(true);
    stop.done = true;
    await Promise.all([...loops, feeder]);
    // No 1-board job queued after the big one started before it.
    const overtakers = started.slice(0, started.indexOf(big.jobId)).filter((id) => !smallBefore.has(id) && id !== big.jobId);
    expect(overtakers).toEqual([]);
  });
});

describe("timeouts", () => {
  it("ends an attempt that outlives its job timeout as an infra error with reason timeout, and tells the runner", async () => {
    const runner = await FakeRunner.create(t.api.url, ADMIN, "slowpoke", [{ name: "z0", type: "slow" }]);
    const { runId, jobId } = await insertJob(t.prisma, { boards: 1, boardType: "slow", timeoutMs: 800, tests: ["t1"] });
    const lease = await runner.lease(5000);
    expect(lease?.jobId).toBe(jobId);
    await expect
      .poll(async () => (await t.prisma.attempt.findFirstOrThrow({ where: { jobId } })).status, { timeout: 10_000, interval: 100 })
      .toBe("error");
    const attempt = await t.prisma.attempt.findFirstOrThrow({ where: { jobId } });
    expect(attempt.endReason).toBe("timeout");
    expect(attempt.message).toMatch(/^attempt did not finish within the job's 0\.8 s and \d+(\.\d)? s of grace \(HIL_ATTEMPT_GRACE_MS\)/);
    expect((await t.prisma.run.findUniqueOrThrow({ where: { id: runId } })).status).toBe("error");
    expect(await runner.heartbeat([lease!.attemptId])).toEqual({
      cancel: [lease!.attemptId],
      stops: [{ attemptId: lease!.attemptId, status: "error", reason: "timeout", message: attempt.message }],
    });
    // The board is in doubt after a timeout: it must pass a health check before its next job.
    expect((await t.prisma.board.findFirstOrThrow({ where: { name: "z0", runner: { name: "slowpoke" } } })).health).toBe("unknown");
  });
});

describe("priorities and fair share", () => {
  it("serves higher priority first, then the project with fewer running jobs", async () => {
    const runner = await FakeRunner.create(t.api.url, ADMIN, "prio", [{ name: "q0", type: "prio" }]);
    // Queued minutes before the others: aging alone would put it ahead of the quiet project's job below.
    const low = await insertJob(t.prisma, { boards: 1, boardType: "prio", priority: 100, project: "flood", ageMs: 5 * 60_000 });
    const high = await insertJob(t.prisma, { boards: 1, boardType: "prio", priority: 300, project: "flood" });
    const first = await runner.lease(2000);
    expect(first?.jobId).toBe(high.jobId);
    // While "flood" has a job running, another project's job of equal priority goes ahead of flood's older one
    // (one priority class: HIL_PRIORITY_STEP points of aging before the older job would outrank it).
    const other = await insertJob(t.prisma, { boards: 1, boardType: "prio", priority: 100, project: "quiet" });
    await runner.finish(first!.attemptId);
    const busy = await insertJob(t.prisma, { boards: 1, boardType: "prio2", priority: 100, project: "flood" });
    const hog = await FakeRunner.create(t.api.url, ADMIN, "prio-hog", [{ name: "h0", type: "prio2" }]);
    expect((await hog.lease(2000))?.jobId).toBe(busy.jobId); // flood now has one running job
    expect((await runner.lease(2000))?.jobId).toBe(other.jobId);
    expect((await t.prisma.job.findUniqueOrThrow({ where: { id: low.jobId } })).status).toBe("queued");
  });

  it("schedules a waiting run with the priority it is given later (PATCH /runs/:id), and refuses bad changes", async () => {
    const runner = await FakeRunner.create(t.api.url, ADMIN, "bump", [{ name: "u0", type: "bump" }]);
    const first = await insertJob(t.prisma, { boards: 1, boardType: "bump", priority: 100 });
    const urgent = await insertJob(t.prisma, { boards: 1, boardType: "bump", priority: 100 });
    const bumped = await call<{ priority: number; jobs: { status: string }[] }>(t.api.url, "PATCH", `/api/v1/runs/${urgent.runId}`, {
      priority: 500,
    });
    expect(bumped.status).toBe(200);
    expect(bumped.body).toMatchObject({ priority: 500, jobs: [{ status: "queued" }] });
    // The older job was first in line; the bumped one now goes ahead of it.
    const lease = await runner.lease(2000);
    expect(lease?.jobId).toBe(urgent.jobId);
    await runner.finish(lease!.attemptId);
    expect((await runner.lease(2000))?.jobId).toBe(first.jobId);

    const tooHigh = await call<{ error: { code: string; message: string } }>(t.api.url, "PATCH", `/api/v1/runs/${first.runId}`, {
      priority: 5000,
    });
    expect(tooHigh.status).toBe(400);
    expect(tooHigh.body.error.message).toMatch(/priority/);
    await expect.poll(async () => (await t.prisma.run.findUniqueOrThrow({ where: { id: urgent.runId } })).status).toBe("passed");
    const ended = await call<{ error: { code: string } }>(t.api.url, "PATCH", `/api/v1/runs/${urgent.runId}`, { priority: 10 });
    expect(ended.status).toBe(409);
    const unknown = await call(t.api.url, "PATCH", "/api/v1/runs/00000000-0000-4000-8000-000000000000", { priority: 10 });
    expect(unknown.status).toBe(404);
  });
});
