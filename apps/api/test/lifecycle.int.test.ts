/** Queue timeouts, cancellation and flaky re-runs, through the API (inject) on real Postgres and Redis. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, buildTestApp, registerTestRunner, uploadTestFirmware } from "./helpers/build-app.ts";
import type { TestApp } from "./helpers/build-app.ts";

let t: TestApp;
const auth = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  t = await buildTestApp({ HIL_QUEUE_TIMEOUT_MS: "1500", HIL_MAX_ATTEMPTS: "1" });
  await uploadTestFirmware(t);
});
afterAll(async () => {
  await t?.close();
});

const runner = (name: string, boards: string[]) => registerTestRunner(t, name, boards);

const createRun = async (payload: object = {}) => {
  const res = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", headers: auth(), payload });
  expect(res.statusCode).toBe(201);
  return res.json().id as string;
};
const getRun = async (id: string) => (await t.fastify.inject(`/api/v1/runs/${id}`)).json();
const results = async (id: string) => (await t.fastify.inject(`/api/v1/runs/${id}/results`)).json().results;

describe("queue timeout", () => {
  it("ends a job nobody can run as error (queue_timeout) with every test not_run and the reason", async () => {
    const id = await createRun();
    await expect.poll(async () => (await getRun(id)).status, { timeout: 10_000, interval: 100 }).toBe("error");
    const run = await getRun(id);
    expect(run.jobs[0]).toMatchObject({ status: "error", endReason: "queue_timeout", attempts: [], waiting: null });
    // The run's message keeps the reason it never started: this lab has no runner at all yet.
    expect(run.message).toMatch(
      /^ieee802154: queue_timeout: not started within 1.5 s: no runner has a nrf52840dk board \(needs \d × nrf52840dk on one runner\)$/,
    );
    expect(await results(id)).toEqual([
      expect.objectContaining({
        test: "radio_tx",
        status: "not_run",
        message: expect.stringMatching(/^queue_timeout: not started within 1\.5 s: no runner has a nrf52840dk board/),
      }),
      expect.objectContaining({ test: "radio_rx", status: "not_run" }),
    ]);
  });
});

describe("queue timeout of a retry", () => {
  // Its own API, so the first job can be retried (the shared one allows a single attempt).
  let r2: TestApp;
  beforeAll(async () => {
    r2 = await buildTestApp({ HIL_QUEUE_TIMEOUT_MS: "1500", HIL_MAX_ATTEMPTS: "2" });
    await uploadTestFirmware(r2);
  });
  afterAll(async () => {
    await r2?.close();
  });

  it("gives a job back in the queue for a retry the full queue timeout again, and says it was a retry that never started", async () => {
    const inject = r2.fastify.inject.bind(r2.fastify);
    const { token } = await registerTestRunner(r2, "retry-rack", ["q1", "q2"]);
    const created = await inject({ method: "POST", url: "/api/v1/runs", headers: auth(), payload: {} });
    const id = created.json().id as string;
    const lease = (await inject({ method: "POST", url: "/api/v1/runner/lease", headers: auth(token), payload: { waitMs: 5000 } })).json()
      .lease;
    expect(lease.runId).toBe(id);
    // Running for longer than the queue timeout: it does not count while the job has boards.
    await new Promise((r) => setTimeout(r, 2500));
    const finished = await inject({
      method: "POST",
      url: `/api/v1/runner/attempts/${lease.attemptId}/finish`,
      headers: auth(token),
      payload: { status: "error", reason: "flash_failed", message: "probe lost" },
    });
    expect(finished.statusCode).toBe(200);
    // Back in the queue, and its boards wait for a health check: nothing can run the retry. It is not ended at once
    // for having been created long ago, and it does end once the wait for the retry outlives the timeout.
    const get = async () => (await inject(`/api/v1/runs/${id}`)).json();
    expect((await get()).jobs[0].status).toBe("queued");
    await new Promise((r) => setTimeout(r, 700));
    expect((await get()).jobs[0].status).toBe("queued");
    await expect.poll(async () => (await get()).jobs[0].status, { timeout: 10_000, interval: 100 }).toBe("error");
    const run = await get();
    expect(run.jobs[0]).toMatchObject({ endReason: "queue_timeout" });
    expect(run.status).toBe("error");
    expect(run.message).toMatch(
      /^ieee802154: queue_timeout: not retried within 1.5 s of its attempt 1 ending: needs 2 × nrf52840dk on one runner: the boards that could run it are not healthy: q1 \(waiting for a health check\), q2 \(waiting for a health check\)$/,
    );
    // The tests the failed attempt left without a verdict are unfinished: not_run, saying why.
    const items = (await inject(`/api/v1/runs/${id}/results`)).json().results;
    expect(items).toEqual([
      expect.objectContaining({
        test: "radio_tx",
        status: "not_run",
        attempt: 1,
        message: expect.stringMatching(
          /^queue_timeout: not retried within 1\.5 s of its attempt 1 ending: .*not healthy.* \(attempt 1 ended flash_failed\)$/,
        ),
      }),
      expect.objectContaining({ test: "radio_rx", status: "not_run" }),
    ]);
  });
});

describe("cancellation", () => {
  it("cancels a running attempt: the runner is told on its next heartbeat, boards are freed, unfinished tests are not_run", async () => {
    const r = await runner("cancel-rack", ["c1", "c2"]);
    const id = await createRun();
    const lease = (await r.call("/lease", { waitMs: 5000 })).json().lease;
    expect(lease.runId).toBe(id);
    await r.call(`/attempts/${lease.attemptId}/results`, { results: [{ test: "radio_tx", status: "pass", durationMs: 10 }] });

    const cancelled = await t.fastify.inject({ method: "POST", url: `/api/v1/runs/${id}/cancel`, headers: auth() });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toMatchObject({ status: "cancelled", message: expect.stringMatching(/cancelled by api token/) });
    // The heartbeat says why, so the runner's log names who cancelled it.
    expect((await r.call("/heartbeat", { attemptIds: [lease.attemptId] })).json()).toEqual({
      cancel: [lease.attemptId],
      stops: [
        { attemptId: lease.attemptId, status: "cancelled", reason: "cancelled", message: expect.stringMatching(/cancelled by api token/) },
      ],
    });
    const items = await results(id);
    expect(items.map((i: { test: string; status: string }) => [i.test, i.status])).toEqual([
      ["radio_tx", "pass"],
      ["radio_rx", "not_run"],
    ]);
    expect(items[1].message).toMatch(/attempt cancelled/);
    // The boards are free at once for other work.
    const boards = (await t.fastify.inject("/api/v1/boards")).json().boards.filter((b: { runner: string }) => b.runner === "cancel-rack");
    expect(boards.map((b: { state: string }) => b.state)).toEqual(["idle", "idle"]);
    // A late finish from the runner is refused without changing anything.
    const late = await r.call(`/attempts/${lease.attemptId}/finish`, { status: "completed", reason: "completed" });
    expect(late.statusCode).toBe(409);
    expect((await getRun(id)).status).toBe("cancelled");
    // Cancelling twice is a conflict, not a silent success.
    expect((await t.fastify.inject({ method: "POST", url: `/api/v1/runs/${id}/cancel`, headers: auth() })).statusCode).toBe(409);
  });

  it("cancels a queued job without an attempt, and needs the trigger scope", async () => {
    const id = await createRun();
    await expect.poll(async () => (await getRun(id)).jobs.length, { timeout: 5000, interval: 50 }).toBe(1);
    const jobId = (await getRun(id)).jobs[0].id;
    expect((await t.fastify.inject({ method: "POST", url: `/api/v1/jobs/${jobId}/cancel` })).statusCode).toBe(401);
    const res = await t.fastify.inject({ method: "POST", url: `/api/v1/jobs/${jobId}/cancel`, headers: auth() });
    expect(res.json()).toEqual({ id: jobId, status: "cancelled" });
    expect((await getRun(id)).status).toBe("cancelled");
    expect((await results(id)).map((i: { status: string; message: string }) => [i.status, i.message])).toEqual([
      ["not_run", "cancelled by api token bootstrap-admin (HIL_ADMIN_TOKEN) before it got boards"],
      ["not_run", "cancelled by api token bootstrap-admin (HIL_ADMIN_TOKEN) before it got boards"],
    ]);
  });
});

describe("retries and flaky tests", () => {
  it("records a pass after a fail in the same attempt as flaky, keeping every try", async () => {
    const r = await runner("flaky-rack", ["f1", "f2"]);
    const id = await createRun();
    const lease = (await r.call("/lease", { waitMs: 5000 })).json().lease;
    await r.call(`/attempts/${lease.attemptId}/results`, {
      results: [
        { test: "radio_tx", try: 1, status: "fail", durationMs: 10, message: "30 of 40" },
        { test: "radio_tx", try: 2, status: "pass", durationMs: 10 },
        { test: "radio_rx", try: 1, status: "pass", durationMs: 10 },
      ],
    });
    await r.call(`/attempts/${lease.attemptId}/finish`, { status: "completed", reason: "completed" });
    expect((await getRun(id)).status).toBe("passed");
    const items = await results(id);
    expect(items[0]).toMatchObject({ test: "radio_tx", status: "pass", flaky: true, tries: 2 });
    expect(items[1]).toMatchObject({ test: "radio_rx", status: "pass", flaky: false, tries: 1 });
    expect(await t.prisma.testResult.count({ where: { attemptId: lease.attemptId } })).toBe(3);
  });

  it("refuses a try beyond the suite's reruns, and a re-run of a test whose previous try did not fail", async () => {
    const r = await runner("rerun-rack", ["e1", "e2"]);
    const id = await createRun();
    const lease = (await r.call("/lease", { waitMs: 5000 })).json().lease;
    expect(lease.reruns).toBe(1);
    const submit = (results: object[]) => r.call(`/attempts/${lease.attemptId}/results`, { results });
    const refused = async (results: object[], message: string) => {
      const res = await submit(results);
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toEqual({ code: "VALIDATION", message });
    };
    // One re-run allowed: a third try is refused, and with it the whole request.
    await refused(
      [
        { test: "radio_tx", try: 1, status: "fail", durationMs: 10 },
        { test: "radio_tx", try: 2, status: "fail", durationMs: 10 },
        { test: "radio_tx", try: 3, status: "pass", durationMs: 10 },
      ],
      "radio_tx try 3: this job re-runs a failed test at most 1 time(s), so its tries go up to 2",
    );
    expect(await t.prisma.testResult.count({ where: { attemptId: lease.attemptId } })).toBe(0);
    // A re-run needs a failed try before it: none at all, or one that passed.
    const early = "radio_rx try 2: a re-run is taken only after try 1 of the test failed; submit that failed try first";
    await refused([{ test: "radio_rx", try: 2, status: "pass", durationMs: 10 }], early);
    expect((await submit([{ test: "radio_rx", try: 1, status: "pass", durationMs: 10 }])).statusCode).toBe(200);
    await refused([{ test: "radio_rx", try: 2, status: "pass", durationMs: 10 }], early);
    // The legal re-run, one request after the other as hil-runner sends them; then no further try.
    expect((await submit([{ test: "radio_tx", try: 1, status: "fail", durationMs: 10 }])).statusCode).toBe(200);
    expect((await submit([{ test: "radio_tx", try: 2, status: "pass", durationMs: 10 }])).statusCode).toBe(200);
    await refused(
      [{ test: "radio_tx", try: 3, status: "pass", durationMs: 10 }],
      "radio_tx try 3: this job re-runs a failed test at most 1 time(s), so its tries go up to 2",
    );
    await r.call(`/attempts/${lease.attemptId}/finish`, { status: "completed", reason: "completed" });
    expect((await getRun(id)).status).toBe("passed");
    expect((await results(id))[0]).toMatchObject({ test: "radio_tx", status: "pass", flaky: true, tries: 2 });
  });
});

describe("completed finishes", () => {
  it("keeps the runner's message byte for byte (NULs as ␀) and gives every unreported test a status", async () => {
    const r = await runner("finish-rack", ["c1", "c2"]);
    const id = await createRun();
    const lease = (await r.call("/lease", { waitMs: 5000 })).json().lease;
    // Serial output quoted in a message may hold NULs, which Postgres text cannot: they are kept as U+2400.
    const submitted = await r.call(`/attempts/${lease.attemptId}/results`, {
      results: [{ test: "radio_tx", try: 1, status: "pass", durationMs: 10, message: "rx: \u0000\u0000ok" }],
    });
    expect(submitted.statusCode).toBe(200);
    // Quotes, a backslash, a newline, non-ASCII and a NUL: the batch writes them as SQL literals.
    const message = 'suite stopped early: it\'s "done" \\ C:\\lab\nnext line — ünïcode; DROP TABLE "Run";\u0000';
    const finish = await r.call(`/attempts/${lease.attemptId}/finish`, { status: "completed", reason: "completed", message });
    expect(finish.statusCode).toBe(200);
    const attempt = await t.prisma.attempt.findUniqueOrThrow({ where: { id: lease.attemptId } });
    expect(attempt).toMatchObject({ status: "completed", message: message.replace("\u0000", "\u2400") });
    const items = await results(id);
    expect(items.map((i: { test: string; status: string; message?: string }) => [i.test, i.status, i.message])).toEqual([
      ["radio_tx", "pass", "rx: \u2400\u2400ok"],
      ["radio_rx", "not_run", "the suite finished without reporting this test"],
    ]);
    expect((await getRun(id)).status).toBe("error");
  });
});

describe("quarantine", () => {
  it("does not fail a run whose only failing test is quarantined, and still reports the failure", async () => {
    const q = await t.fastify.inject({
      method: "PUT",
      url: "/api/v1/quarantine/ieee802154/radio_rx",
      headers: auth(),
      payload: { reason: "flaky receiver, see #123" },
    });
    expect(q.statusCode).toBe(200);
    const r = await runner("quarantine-rack", ["q1", "q2"]);
    const id = await createRun();
    const lease = (await r.call("/lease", { waitMs: 5000 })).json().lease;
    await r.call(`/attempts/${lease.attemptId}/results`, {
      results: [
        { test: "radio_tx", status: "pass", durationMs: 10 },
        { test: "radio_rx", status: "fail", durationMs: 10, message: "received 3 of 240" },
      ],
    });
    await r.call(`/attempts/${lease.attemptId}/finish`, { status: "completed", reason: "completed" });
    expect((await getRun(id)).status).toBe("passed");
    expect((await results(id)).find((i: { test: string }) => i.test === "radio_rx")).toMatchObject({ status: "fail" });
    await t.fastify.inject({ method: "DELETE", url: "/api/v1/quarantine/ieee802154/radio_rx", headers: auth() });
  });
});
