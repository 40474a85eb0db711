/**
 * The runner protocol at its edges, through the API (inject) and its group-commit batches on real Postgres and
 * Redis: what a runner may send (finish pairs, bounds, names), finishes, results and the reaper racing each other,
 * and attempts a runner does not know about (lost leases).
 */
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSqlPool } from "../src/db.ts";
import { finishCompletedBatch, submitResultsBatch } from "../src/services/runner-batches.ts";
import { reapLostRunners } from "../src/services/runner-protocol.ts";
import { ADMIN_TOKEN, buildTestApp, registerTestRunner, uploadTestFirmware } from "./helpers/build-app.ts";
import type { TestApp } from "./helpers/build-app.ts";

let t: TestApp;
let sql: pg.Pool;
const auth = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });
const runs: string[] = [];

beforeAll(async () => {
  // A job gets two attempts, so an infra error is retried; one infra error that implicates a board makes it bad.
  t = await buildTestApp({ HIL_MAX_ATTEMPTS: "2", HIL_BOARD_BAD_AFTER: "1" });
  sql = createSqlPool(t.env.DATABASE_URL, 4);
  await uploadTestFirmware(t);
});
// A job a test left queued for a retry (or running) must not be leased by the next test's runner.
afterEach(async () => {
  for (const id of runs.splice(0)) await t.fastify.inject({ method: "POST", url: `/api/v1/runs/${id}/cancel`, headers: auth() });
});
afterAll(async () => {
  await sql?.end();
  await t?.close();
});

async function runner(name: string, boards: string[]) {
  const { id, token, sync, call } = await registerTestRunner(t, name, boards);
  return {
    id,
    token,
    sync,
    call,
    /** Creates a run and leases its one job. */
    start: async () => {
      const created = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", headers: auth(), payload: {} });
      expect(created.statusCode).toBe(201);
      const runId = created.json().id as string;
      runs.push(runId);
      const lease = (await call("/lease", { waitMs: 5000 })).json().lease;
      expect(lease.runId).toBe(runId);
      return { runId, attemptId: lease.attemptId as string, jobId: lease.jobId as string };
    },
  };
}

const attempt = (id: string) => t.prisma.attempt.findUniqueOrThrow({ where: { id }, include: { job: true } });
const boardsOf = async (attemptId: string) =>
  (await t.prisma.attemptBoard.findMany({ where: { attemptId }, include: { board: true } })).map((ab) => ab.board);

/**
 * Waits until some backend of this database waits for a row lock (a statement blocked behind a test's open
 * transaction). Asked outside that transaction: inside one, pg_stat_activity answers from a snapshot.
 */
async function lockWaiter() {
  await expect
    .poll(
      async () =>
        (
          await t.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event IN ('transactionid', 'tuple')`
        )[0]!.n,
      { timeout: 5000, interval: 20 },
    )
    .toBeGreaterThan(0);
}

async function blocker() {
  const client = new pg.Client({ connectionString: t.env.DATABASE_URL });
  await client.connect();
  await client.query("BEGIN");
  return client;
}

describe("finishing an attempt", () => {
  it("takes only the status and reason pairs a runner may send, and says which ones are allowed", async () => {
    const r = await runner("pairs-rack", ["p1", "p2"]);
    const { attemptId } = await r.start();
    for (const body of [
      { status: "error", reason: "completed" },
      { status: "completed", reason: "flash_failed" },
      { status: "error", reason: "runner_lost" },
      { status: "error", reason: "lease_lost" },
      { status: "cancelled", reason: "timeout" },
      { status: "done", reason: "completed" },
    ]) {
      const res = await r.call(`/attempts/${attemptId}/finish`, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.message).toContain(
        "allowed: completed/completed, error/<flash_failed|firmware_unavailable|board_unavailable|suite_crashed|fetch_timeout|flash_timeout|boot_timeout|timeout|runner_shutdown>, or cancelled/cancelled",
      );
    }
    // A runner cannot cancel on its own: that would end the job for good, without the retry an error gets.
    const own = await r.call(`/attempts/${attemptId}/finish`, { status: "cancelled", reason: "cancelled" });
    expect(own.statusCode).toBe(409);
    expect(own.json().error).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/only the API cancels an attempt/) });
    expect((await attempt(attemptId)).status).toBe("running");

    // Once the API cancelled it, hil-runner's acknowledgement (what it sends after the heartbeat said stop) is fine.
    const run = (await attempt(attemptId)).job.runId;
    expect((await t.fastify.inject({ method: "POST", url: `/api/v1/runs/${run}/cancel`, headers: auth() })).statusCode).toBe(200);
    const ack = await r.call(`/attempts/${attemptId}/finish`, {
      status: "cancelled",
      reason: "cancelled",
      message: "the attempt was cancelled",
    });
    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toEqual({ jobStatus: "cancelled" });
  });

  it("answers two identical error finishes at once alike, and only a different one with 409", async () => {
    const r = await runner("twice-rack", ["w1", "w2"]);
    const { attemptId } = await r.start();
    const body = { status: "error", reason: "suite_crashed", message: "runner error: boom" };
    const both = await Promise.all([r.call(`/attempts/${attemptId}/finish`, body), r.call(`/attempts/${attemptId}/finish`, body)]);
    expect(both.map((res) => [res.statusCode, res.json()])).toEqual([
      [200, { jobStatus: "queued" }],
      [200, { jobStatus: "queued" }],
    ]);
    const other = await r.call(`/attempts/${attemptId}/finish`, { status: "error", reason: "flash_failed" });
    expect(other.statusCode).toBe(409);
    expect(other.json().error).toMatchObject({ code: "ATTEMPT_NOT_RUNNING", message: expect.stringContaining("suite_crashed") });
    // The same finish later still gets the outcome it had, though the retry may have moved the job on since.
    expect((await r.call(`/attempts/${attemptId}/finish`, body)).json()).toEqual({ jobStatus: "queued" });
  });
});

describe("bad runner input", () => {
  it("answers 400 saying what to fix, never 500", async () => {
    const r = await runner("input-rack", ["i1", "i2"]);
    const { attemptId } = await r.start();
    const ok = { test: "radio_tx", status: "pass", durationMs: 10 };
    for (const [result, message] of [
      [{ ...ok, durationMs: 2 ** 31 }, "body.results.0.durationMs: durationMs must be at most 2147483647"],
      [{ ...ok, logSpan: { role: "tx", start: 0, end: 2 ** 31 } }, "body.results.0.logSpan.end: logSpan.end must be at most 2147483647"],
      [{ ...ok, logSpan: { role: "tx", start: 2 ** 40, end: 2 ** 40 + 1 } }, "logSpan.start must be at most 2147483647"],
      [{ ...ok, test: "radio\u0000tx" }, "body.results.0.test: test must not contain NUL characters"],
      [{ ...ok, logSpan: { role: "t\u0000x", start: 0, end: 1 } }, "logSpan.role must not contain NUL characters"],
    ] as const) {
      const res = await r.call(`/attempts/${attemptId}/results`, { results: [result] });
      expect(res.statusCode, `${message} (got ${res.body})`).toBe(400);
      expect(res.json().error).toMatchObject({ code: "VALIDATION", message: expect.stringContaining(message) });
    }
    const chunk = await r.call(`/attempts/${attemptId}/logs`, { role: "t\u0000x", offset: 0, data: "aGk=" });
    expect(chunk.statusCode).toBe(400);
    expect(chunk.json().error.message).toContain("role must not contain NUL characters");
    const beat = await r.call("/heartbeat", { attemptIds: [attemptId, "not-an-attempt"] });
    expect(beat.statusCode).toBe(400);
    expect(beat.json().error.message).toContain("body.attemptIds.1: attemptIds must hold attempt ids (UUIDs) from leases");
    const health = await r.call("/boards/i%001/health", { ok: true, message: "ok" });
    expect(health.statusCode).toBe(400);
    expect(health.json().error.message).toContain("board names do not contain NUL characters");
    expect(await t.prisma.testResult.count({ where: { attemptId } })).toBe(0);
  });

  it("keeps a NUL in a runner's hostname as ␀ and refuses one in a board tag", async () => {
    const reg = (await t.fastify.inject({ method: "POST", url: "/api/v1/registration-tokens", headers: auth(), payload: {} })).json().token;
    const registered = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/runner/register",
      payload: { registrationToken: reg, name: "nul-rack", hostname: "lab\u0000host", version: "1.0\u0000" },
    });
    expect(registered.statusCode).toBe(201);
    expect(await t.prisma.runner.findUniqueOrThrow({ where: { name: "nul-rack" } })).toMatchObject({
      hostname: "lab\u2400host",
      version: "1.0\u2400",
    });
    const sync = await t.fastify.inject({
      method: "PUT",
      url: "/api/v1/runner/boards",
      headers: auth(registered.json().token),
      payload: { boards: [{ name: "n1", type: "nrf52840dk", tags: ["ant\u0000enna"] }] },
    });
    expect(sync.statusCode).toBe(400);
    expect(sync.json().error.message).toBe("body.boards.0.tags.0: tags must not contain NUL characters");
  });

  it("refuses the bad request of a results batch alone: the others in it are recorded", async () => {
    const r = await runner("batch-rack", ["b1", "b2"]);
    const { attemptId } = await r.start();
    const res = await Promise.all([
      r.call(`/attempts/${attemptId}/results`, { results: [{ test: "radio_tx", status: "pass", durationMs: 10 }] }),
      r.call(`/attempts/${attemptId}/results`, { results: [{ test: "radio_rx", status: "pass", durationMs: 2 ** 31 }] }),
      r.call(`/attempts/${attemptId}/results`, { results: [{ test: "radio_ack", status: "pass", durationMs: 10 }] }),
    ]);
    expect(res.map((x) => x.statusCode)).toEqual([200, 400, 400]);
    expect(res[2]?.json().error.message).toBe("tests not part of this job: radio_ack; expected one of radio_tx, radio_rx");
    const stored = await t.prisma.testResult.findMany({ where: { attemptId } });
    expect(stored.map((s) => [s.test, s.status])).toEqual([["radio_tx", "pass"]]);
  });
});

describe("results batches", () => {
  it("stores what it answers when a refused request names the same test and try as an accepted one", async () => {
    const r = await runner("same-key-rack", ["k1", "k2"]);
    const { attemptId } = await r.start();
    const outcomes = await submitResultsBatch(sql, [
      { runnerId: r.id, attemptId, results: [{ test: "radio_tx", try: 1, status: "fail", durationMs: 10, message: "accepted" }] },
      {
        runnerId: r.id,
        attemptId,
        results: [
          { test: "radio_tx", try: 1, status: "pass", durationMs: 20, message: "refused" },
          { test: "radio_ack", try: 1, status: "pass", durationMs: 1 },
        ],
      },
    ]);
    expect(outcomes[0]).toEqual({ recorded: 1 });
    expect(outcomes[1]).toBeInstanceOf(Error);
    expect((outcomes[1] as Error).message).toMatch(/^tests not part of this job: radio_ack/);
    const stored = await t.prisma.testResult.findMany({ where: { attemptId } });
    expect(stored.map((s) => [s.test, s.try, s.status, s.message])).toEqual([["radio_tx", 1, "fail", "accepted"]]);

    // Two accepted requests for the same test and try: the later one wins, as one after the other would.
    await submitResultsBatch(sql, [
      { runnerId: r.id, attemptId, results: [{ test: "radio_rx", try: 1, status: "fail", durationMs: 10, message: "first" }] },
      { runnerId: r.id, attemptId, results: [{ test: "radio_rx", try: 1, status: "pass", durationMs: 10, message: "second" }] },
    ]);
    expect((await t.prisma.testResult.findFirstOrThrow({ where: { attemptId, test: "radio_rx" } })).message).toBe("second");
  });
});

describe("a finish batch racing a results batch", () => {
  it("judges the attempt on the results committed while it waited for the attempt's lock", async () => {
    const r = await runner("race-rack", ["x1", "x2"]);
    const { attemptId, jobId } = await r.start();
    const results = await blocker();
    try {
      // What a results batch does: hold the attempt FOR SHARE while it writes.
      await results.query(`SELECT id FROM "Attempt" WHERE id = $1 FOR SHARE`, [attemptId]);
      await results.query(
        `INSERT INTO "TestResult" (id, "attemptId", "jobId", suite, test, try, status, "durationMs")
         VALUES (gen_random_uuid(), $1, $2, 'ieee802154', 'radio_tx', 1, 'fail', 10),
                (gen_random_uuid(), $1, $2, 'ieee802154', 'radio_rx', 1, 'pass', 10)`,
        [attemptId, jobId],
      );
      const finishing = finishCompletedBatch(sql, [{ runnerId: r.id, attemptId, body: { status: "completed", reason: "completed" } }]);
      await lockWaiter();
      await results.query("COMMIT");
      expect(await finishing).toEqual([{ jobStatus: "failed" }]);
    } finally {
      await results.end();
    }
    const stored = await t.prisma.testResult.findMany({ where: { attemptId }, orderBy: { test: "asc" } });
    expect(stored.map((s) => [s.test, s.status])).toEqual([
      ["radio_rx", "pass"],
      ["radio_tx", "fail"],
    ]);
  });
});

describe("lost runners", () => {
  it("ends the attempts of a restarted runner as runner_lost, counting them against the boards with HIL_BOARD_BAD_AFTER", async () => {
    const r = await runner("restart-rack", ["s1", "s2"]);
    const { attemptId } = await r.start();
    const sync = await r.sync();
    expect(sync.json().orphanedAttempts).toEqual([attemptId]);
    expect(await attempt(attemptId)).toMatchObject({ status: "error", endReason: "runner_lost" });
    // HIL_BOARD_BAD_AFTER is 1 here: one infra error that implicates them makes them bad (the default 3: unknown).
    expect((await boardsOf(attemptId)).map((b) => [b.health, b.infraErrors])).toEqual([
      ["bad", 1],
      ["bad", 1],
    ]);
  });

  it("does not reap a runner whose heartbeats resumed after the reaper listed it", async () => {
    const r = await runner("resume-rack", ["m1", "m2"]);
    const { runId, attemptId } = await r.start();
    const run = await blocker();
    let reaped: string[];
    try {
      // Hold the run, so the reaper stops between reading the silent runners and ending their attempts.
      await run.query(`SELECT id FROM "Run" WHERE id = $1 FOR UPDATE`, [runId]);
      await t.prisma.runner.update({ where: { id: r.id }, data: { lastSeenAt: new Date(Date.now() - 10 * 60_000) } });
      const reaping = reapLostRunners(t.prisma, t.env.HIL_RUNNER_TIMEOUT_MS, 1);
      await lockWaiter();
      expect((await r.call("/heartbeat", { attemptIds: [attemptId] })).json()).toEqual({ cancel: [], stops: [] });
      await run.query("COMMIT");
      reaped = await reaping;
    } finally {
      await run.end();
    }
    expect(reaped).not.toContain(attemptId);
    expect((await attempt(attemptId)).status).toBe("running");
  });
});

describe("attempts a runner does not know", () => {
  it("leaves a just-leased attempt alone when an idle heartbeat crosses the lease", async () => {
    const r = await runner("crossing-rack", ["c1", "c2"]);
    const { attemptId } = await r.start();
    expect((await r.call("/heartbeat", { attemptIds: [] })).json()).toEqual({ cancel: [], stops: [] });
    expect((await r.call("/heartbeat", {})).json()).toEqual({ cancel: [], stops: [] });
    expect((await attempt(attemptId)).status).toBe("running");
  });

  it("tells a runner that lists an attempt it never had, or another runner's, that it has none such", async () => {
    const mine = await runner("own-rack", ["o1", "o2"]);
    const other = await runner("other-rack", ["p1", "p2"]);
    const { attemptId } = await other.start();
    const stranger = "00000000-0000-4000-8000-000000000000";
    const beat = (await mine.call("/heartbeat", { attemptIds: [attemptId, stranger] })).json();
    expect(beat).toEqual({
      cancel: [attemptId, stranger],
      stops: [
        { attemptId, status: "unknown", reason: null, message: `this runner has no attempt ${attemptId}` },
        { attemptId: stranger, status: "unknown", reason: null, message: `this runner has no attempt ${stranger}` },
      ],
    });
    // The other runner's attempt is untouched.
    expect((await attempt(attemptId)).status).toBe("running");
  });

  it("ends an attempt its runner's heartbeat leaves out as lease_lost, retries the job and does not blame the boards", async () => {
    const r = await runner("lost-rack", ["l1", "l2", "l3", "l4"]);
    const known = await r.start();
    const lost = await r.start();
    // Leased long enough ago that the runner must have received both leases by now.
    await t.prisma.attempt.updateMany({
      where: { id: { in: [known.attemptId, lost.attemptId] } },
      data: { startedAt: new Date(Date.now() - 30_000) },
    });
    expect((await r.call("/heartbeat", { attemptIds: [known.attemptId] })).json()).toEqual({ cancel: [], stops: [] });
    expect((await attempt(known.attemptId)).status).toBe("running");
    const ended = await attempt(lost.attemptId);
    expect(ended).toMatchObject({
      status: "error",
      endReason: "lease_lost",
      message: expect.stringMatching(/^runner lost-rack does not know this attempt: its heartbeat did not list it \d+ s after the lease/),
    });
    expect(ended.job.status).toBe("queued");
    expect((await boardsOf(lost.attemptId)).map((b) => [b.health, b.infraErrors])).toEqual([
      ["good", 0],
      ["good", 0],
    ]);
    const items = (await t.fastify.inject(`/api/v1/runs/${lost.runId}/results`)).json().results;
    expect(items.map((i: { status: string; message: string }) => [i.status, i.message])).toEqual([
      ["error", expect.stringMatching(/^infra error \(lease_lost\): runner lost-rack does not know this attempt/)],
      ["error", expect.stringMatching(/^infra error \(lease_lost\)/)],
    ]);
  });
});
