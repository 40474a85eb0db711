import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, buildTestApp } from "./helpers/build-app.ts";
import type { TestApp } from "./helpers/build-app.ts";

let t: TestApp;
const auth = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

async function upload(name: string, kind: string, bytes: Buffer, token = ADMIN_TOKEN) {
  return t.fastify.inject({
    method: "POST",
    url: `/api/v1/artifacts?name=${name}&kind=${kind}&boardType=nrf52840dk`,
    headers: { ...auth(token), "content-type": "application/octet-stream" },
    payload: bytes,
  });
}

/** Boards start with unknown health; report a passing health check for each, as a runner would after checking. */
async function markHealthy(runnerToken: string, boards: string[]) {
  for (const b of boards) {
    const res = await t.fastify.inject({
      method: "POST",
      url: `/api/v1/runner/boards/${b}/health`,
      headers: auth(runnerToken),
      payload: { ok: true, message: "booted" },
    });
    expect(res.json()).toEqual({ health: "good" });
  }
}

async function registerRunner(name: string) {
  const reg = await t.fastify.inject({ method: "POST", url: "/api/v1/registration-tokens", headers: auth(), payload: {} });
  expect(reg.statusCode).toBe(201);
  const res = await t.fastify.inject({
    method: "POST",
    url: "/api/v1/runner/register",
    payload: { registrationToken: reg.json().token, name },
  });
  expect(res.statusCode).toBe(201);
  return res.json().token as string;
}

beforeAll(async () => {
  t = await buildTestApp({ HIL_MAX_ATTEMPTS: "1" });
});
afterAll(async () => {
  await t?.close();
});

describe("health and docs", () => {
  it("answers /healthz, /readyz and serves the OpenAPI document with the public routes", async () => {
    expect((await t.fastify.inject("/healthz")).json()).toEqual({ status: "ok" });
    expect((await t.fastify.inject("/readyz")).json()).toEqual({ status: "ready" });
    const doc = (await t.fastify.inject("/docs/json")).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/v1/runs", "/api/v1/runs/{id}", "/api/v1/runs/{id}/results", "/api/v1/runner/lease"]),
    );
  });
});

describe("authentication", () => {
  it("rejects a run without a token (401), with a wrong token (401) and with a read-only token (403)", async () => {
    const none = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", payload: {} });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe("UNAUTHORIZED");
    const wrong = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/runs",
      payload: {},
      headers: auth("hil_api_nope-nope-nope-nope"),
    });
    expect(wrong.statusCode).toBe(401);
    const created = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/tokens",
      headers: auth(),
      payload: { name: "reader", scopes: ["read"] },
    });
    expect(created.statusCode).toBe(201);
    const reader = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", payload: {}, headers: auth(created.json().token) });
    expect(reader.statusCode).toBe(403);
    expect(reader.json().error.message).toMatch(/trigger or admin|admin or trigger/);
  });

  it("refuses runner endpoints without a runner token and an API token as a runner token", async () => {
    expect((await t.fastify.inject({ method: "POST", url: "/api/v1/runner/lease", payload: {} })).statusCode).toBe(401);
    expect((await t.fastify.inject({ method: "POST", url: "/api/v1/runner/lease", payload: {}, headers: auth() })).statusCode).toBe(401);
  });
});

describe("validation", () => {
  it.each([
    [{ suites: "ieee802154" }, /suites/],
    [{ suites: [] }, /suites/],
    [{ faults: { loss: 2 } }, /loss/],
    [{ faults: { jam: 1 } }, /jam/],
    [{ colour: "red" }, /colour/],
    [{ firmware: { radio_rx: "abc" } }, /SHA-256/],
  ])("answers 400 with a message naming the problem for %j", async (payload, message) => {
    const res = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", payload, headers: auth() });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("VALIDATION");
    expect(res.json().error.message).toMatch(message);
  });

  it("answers 400 for malformed JSON and unknown suites, 404 for unknown runs", async () => {
    const bad = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/runs",
      payload: "{nope",
      headers: { ...auth(), "content-type": "application/json" },
    });
    expect(bad.statusCode).toBe(400);
    const unknown = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", payload: { suites: ["wifi7"] }, headers: auth() });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.message).toContain("known suites: ieee802154");
    expect((await t.fastify.inject("/api/v1/runs/not-a-uuid")).statusCode).toBe(400);
    expect((await t.fastify.inject("/api/v1/runs/6f1c0d52-5a43-4f57-a3b0-1f2e3d4c5b6a")).statusCode).toBe(404);
  });

  it("answers 422 and writes nothing when the firmware a suite needs was never uploaded", async () => {
    const res = await t.fastify.inject({ method: "POST", url: "/api/v1/runs", payload: {}, headers: auth() });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.message).toMatch(/no firmware named nrf52840dk/);
    expect(await t.prisma.run.count()).toBe(0);
  });

  it("checks a declared sha256 on upload", async () => {
    const res = await t.fastify.inject({
      method: "POST",
      url: `/api/v1/artifacts?name=x&kind=tbf&sha256=${"0".repeat(64)}`,
      headers: { ...auth(), "content-type": "application/octet-stream" },
      payload: Buffer.from("hello"),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/sha256 mismatch/);
  });
});

describe("a run through the runner protocol", () => {
  it("plans, leases all boards at once, takes logs and results idempotently, and rolls up the run", async () => {
    for (const [name, kind] of [
      ["nrf52840dk", "kernel"],
      ["radio_tx", "tbf"],
      ["radio_rx", "tbf"],
    ] as const) {
      expect((await upload(name, kind, Buffer.from(`image of ${name}`))).statusCode).toBe(201);
    }
    expect((await upload("radio_tx", "tbf", Buffer.from("image of radio_tx"))).statusCode).toBe(200);

    const runner = await registerRunner("rack-1");
    const runnerAuth = auth(runner);
    // Only one board: the suite needs two, so nothing may be leased (no partial allocation).
    const sync = await t.fastify.inject({
      method: "PUT",
      url: "/api/v1/runner/boards",
      headers: runnerAuth,
      payload: { boards: [{ name: "nrf-1", type: "nrf52840dk" }] },
    });
    expect(sync.statusCode).toBe(200);

    const created = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/runs",
      headers: auth(),
      payload: { ref: "abc123", faults: { loss: 0.1 }, seed: 42 },
    });
    expect(created.statusCode).toBe(201);
    const run = created.json();
    expect(run).toMatchObject({ status: "queued", ref: "abc123", seed: 42, suites: ["ieee802154"], faults: { loss: 0.1 } });

    // A new board must pass a health check first: the lease hands out the check, with the newest kernel image.
    const check = await t.fastify.inject({ method: "POST", url: "/api/v1/runner/lease", headers: runnerAuth, payload: { waitMs: 300 } });
    expect(check.json()).toMatchObject({
      lease: null,
      healthCheck: { board: "nrf-1", firmware: [{ name: "nrf52840dk", kind: "kernel" }] },
    });
    await markHealthy(runner, ["nrf-1"]);
    const none = await t.fastify.inject({ method: "POST", url: "/api/v1/runner/lease", headers: runnerAuth, payload: { waitMs: 300 } });
    expect(none.json()).toEqual({ lease: null, healthCheck: null });

    await t.fastify.inject({
      method: "PUT",
      url: "/api/v1/runner/boards",
      headers: runnerAuth,
      payload: {
        boards: [
          { name: "nrf-1", type: "nrf52840dk" },
          { name: "nrf-2", type: "nrf52840dk" },
        ],
      },
    });
    await markHealthy(runner, ["nrf-2"]);
    const leased = await t.fastify.inject({ method: "POST", url: "/api/v1/runner/lease", headers: runnerAuth, payload: { waitMs: 5000 } });
    const lease = leased.json().lease;
    expect(lease).toMatchObject({ runId: run.id, suite: "ieee802154", tests: ["radio_tx", "radio_rx"], seed: 42, faults: { loss: 0.1 } });
    expect(lease.roles.map((r: { board: string }) => r.board).sort()).toEqual(["nrf-1", "nrf-2"]);
    expect(lease.roles[0].firmware.map((f: { name: string }) => f.name)).toContain("nrf52840dk");

    // The runner downloads the firmware it was given and gets the exact bytes.
    const fw = lease.roles.find((r: { role: string }) => r.role === "tx").firmware.find((f: { name: string }) => f.name === "radio_tx");
    const download = await t.fastify.inject({ method: "GET", url: `/api/v1/runner/artifacts/${fw.sha256}`, headers: runnerAuth });
    expect(download.rawPayload.toString()).toBe("image of radio_tx");

    expect((await t.fastify.inject(`/api/v1/runs/${run.id}`)).json().status).toBe("running");

    const logUrl = `/api/v1/runner/attempts/${lease.attemptId}/logs`;
    const chunk = (offset: number, text: string) =>
      t.fastify.inject({
        method: "POST",
        url: logUrl,
        headers: runnerAuth,
        payload: { role: "tx", offset, data: Buffer.from(text).toString("base64") },
      });
    expect((await chunk(0, "Transmitted successfully.\n")).json()).toEqual({ size: 26 });
    expect((await chunk(0, "Transmitted successfully.\n")).json()).toEqual({ size: 26 }); // retried chunk: ignored
    const gap = await chunk(40, "x");
    expect(gap.statusCode).toBe(409);
    expect(gap.json().error.details).toEqual({ expectedOffset: 26 });
    await chunk(26, "Transmitted successfully.\n");
    const range = await t.fastify.inject(`/api/v1/attempts/${lease.attemptId}/logs/tx?start=12&end=37`);
    expect(range.body).toBe("successfully.\nTransmitted");

    const resultsUrl = `/api/v1/runner/attempts/${lease.attemptId}/results`;
    const tx = {
      test: "radio_tx",
      status: "pass",
      durationMs: 10_000,
      measurements: { transmitted: 40, expected: 40, ratio: 1 },
      logSpan: { role: "tx", start: 0, end: 52 },
    };
    expect((await t.fastify.inject({ method: "POST", url: resultsUrl, headers: runnerAuth, payload: { results: [tx] } })).statusCode).toBe(
      200,
    );
    expect((await t.fastify.inject({ method: "POST", url: resultsUrl, headers: runnerAuth, payload: { results: [tx] } })).statusCode).toBe(
      200,
    );
    expect(await t.prisma.testResult.count({ where: { attemptId: lease.attemptId } })).toBe(1);
    const stray = await t.fastify.inject({
      method: "POST",
      url: resultsUrl,
      headers: runnerAuth,
      payload: { results: [{ ...tx, test: "radio_ack" }] },
    });
    expect(stray.statusCode).toBe(400);

    const rx = {
      test: "radio_rx",
      status: "fail",
      durationMs: 60_000,
      message: "radio_rx: received 31 of 240 expected packets (12.9%), needs 50%",
      measurements: { received: 31, ratio: 0.129 },
    };
    await t.fastify.inject({ method: "POST", url: resultsUrl, headers: runnerAuth, payload: { results: [rx] } });
    const finish = await t.fastify.inject({
      method: "POST",
      url: `/api/v1/runner/attempts/${lease.attemptId}/finish`,
      headers: runnerAuth,
      payload: { status: "completed", reason: "completed" },
    });
    expect(finish.json()).toEqual({ jobStatus: "failed" });
    // A repeated finish (lost response) is accepted; results can no longer be changed.
    expect(
      (
        await t.fastify.inject({
          method: "POST",
          url: `/api/v1/runner/attempts/${lease.attemptId}/finish`,
          headers: runnerAuth,
          payload: { status: "completed", reason: "completed" },
        })
      ).statusCode,
    ).toBe(200);
    const late = await t.fastify.inject({ method: "POST", url: resultsUrl, headers: runnerAuth, payload: { results: [tx] } });
    expect(late.statusCode).toBe(409);
    expect(late.json().error.code).toBe("ATTEMPT_NOT_RUNNING");

    const final = (await t.fastify.inject(`/api/v1/runs/${run.id}`)).json();
    expect(final.status).toBe("failed");
    const { results } = (await t.fastify.inject(`/api/v1/runs/${run.id}/results`)).json();
    expect(results).toHaveLength(2);
    const byTest = Object.fromEntries(results.map((r: { test: string }) => [r.test, r]));
    expect(byTest.radio_tx).toMatchObject({ suite: "ieee802154", status: "pass", durationMs: 10_000, measurements: { transmitted: 40 } });
    expect(byTest.radio_tx.boards).toHaveLength(1);
    expect(byTest.radio_rx).toMatchObject({ status: "fail", message: expect.stringContaining("12.9%") });
    expect(byTest.radio_rx.boards).toHaveLength(2);

    const boards = (await t.fastify.inject("/api/v1/boards")).json().boards;
    expect(boards.map((b: { name: string; state: string }) => [b.name, b.state])).toEqual([
      ["nrf-1", "idle"],
      ["nrf-2", "idle"],
    ]);
    const runners = (await t.fastify.inject("/api/v1/runners")).json().runners;
    expect(runners).toMatchObject([{ name: "rack-1", online: true, boards: ["nrf-1", "nrf-2"] }]);
  });

  it("ends the attempts of a runner that stops heartbeating as runner_lost (infra error, every test error)", async () => {
    const runner = await registerRunner("rack-2");
    await t.fastify.inject({
      method: "PUT",
      url: "/api/v1/runner/boards",
      headers: auth(runner),
      payload: {
        boards: [
          { name: "a", type: "nrf52840dk" },
          { name: "b", type: "nrf52840dk" },
        ],
      },
    });
    await markHealthy(runner, ["a", "b"]);
    const run = (await t.fastify.inject({ method: "POST", url: "/api/v1/runs", headers: auth(), payload: {} })).json();
    const lease = (
      await t.fastify.inject({ method: "POST", url: "/api/v1/runner/lease", headers: auth(runner), payload: { waitMs: 5000 } })
    ).json().lease;
    expect(lease.runId).toBe(run.id);
    await t.prisma.runner.update({ where: { name: "rack-2" }, data: { lastSeenAt: new Date(Date.now() - 10 * 60_000) } });
    // The reaper runs as a BullMQ job scheduler; wait for it to notice.
    await expect
      .poll(async () => (await t.prisma.attempt.findUniqueOrThrow({ where: { id: lease.attemptId } })).status, {
        timeout: 15_000,
        interval: 200,
      })
      .toBe("error");
    const final = (await t.fastify.inject(`/api/v1/runs/${run.id}`)).json();
    expect(final.status).toBe("error");
    expect(final.jobs[0].attempts[0]).toMatchObject({ status: "error", endReason: "runner_lost" });
    const { results } = (await t.fastify.inject(`/api/v1/runs/${run.id}/results`)).json();
    expect(results.map((r: { status: string }) => r.status)).toEqual(["error", "error"]);
    // The heartbeat of the lost runner now tells it to stop.
    const hb = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/runner/heartbeat",
      headers: auth(runner),
      payload: { attemptIds: [lease.attemptId] },
    });
    expect(hb.json()).toEqual({
      cancel: [lease.attemptId],
      stops: [{ attemptId: lease.attemptId, status: "error", reason: "runner_lost", message: expect.stringContaining("runner") }],
    });
  });

  it("pages through runs newest first with a keyset cursor", async () => {
    const all = (await t.fastify.inject("/api/v1/runs?limit=200")).json().runs;
    expect(all.length).toBeGreaterThanOrEqual(2);
    const first = (await t.fastify.inject("/api/v1/runs?limit=1")).json();
    expect(first.runs[0].id).toBe(all[0].id);
    const second = (await t.fastify.inject(`/api/v1/runs?limit=1&cursor=${first.nextCursor}`)).json();
    expect(second.runs[0].id).toBe(all[1].id);
    expect((await t.fastify.inject("/api/v1/runs?cursor=garbage")).statusCode).toBe(400);
  });
});

describe("board health", () => {
  it("takes a board out as bad after failed checks, keeps it out whatever its runner reports, and brings it back only through an admin's check", async () => {
    const runner = await registerRunner("health-rack");
    await t.fastify.inject({
      method: "PUT",
      url: "/api/v1/runner/boards",
      headers: auth(runner),
      payload: { boards: [{ name: "hb-1", type: "nrf52840dk" }] },
    });
    const report = async (ok: boolean) =>
      (
        await t.fastify.inject({
          method: "POST",
          url: "/api/v1/runner/boards/hb-1/health",
          headers: auth(runner),
          payload: { ok, message: ok ? "booted" : "no output after reset" },
        })
      ).json().health;
    // HIL_BOARD_BAD_AFTER (3) failed checks in a row.
    expect([await report(false), await report(false), await report(false)]).toEqual(["unknown", "unknown", "bad"]);
    // A runner cannot declare a bad board good.
    expect(await report(true)).toBe("bad");
    const board = (await t.fastify.inject("/api/v1/boards")).json().boards.find((b: { name: string }) => b.name === "hb-1");
    expect(board.health).toBe("bad");
    const patch = (health: string) =>
      t.fastify.inject({ method: "PATCH", url: `/api/v1/boards/${board.id}`, headers: auth(), payload: { health } });
    // An admin's "check now" puts it back in doubt; a passing check then makes it good.
    expect((await patch("unknown")).statusCode).toBe(200);
    expect(await report(true)).toBe("good");
    // Retired boards come back only through a check too.
    expect((await patch("retired")).statusCode).toBe(200);
    const refused = await patch("maintenance");
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toMatch(/is retired; set health unknown/);
    expect(await report(true)).toBe("retired");
  });
});
