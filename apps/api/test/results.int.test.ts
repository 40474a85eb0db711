/**
 * Results you can read (issue 6) on seeded histories: regressions name the commit a test broke at, alternating
 * tests are flaky and not regressions, JUnit validates against the schema with counts equal to the REST view,
 * quarantine keeps a run green, plus run filters, matrix, merged logs, board admin, tokens and metrics.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlakyList, Matrix, MergedLog, RegressionList, ResultList, RunList, TestHistory } from "@tock-hil/protocol";
import { XMLParser } from "fast-xml-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusesForRunOutcome } from "../src/services/quarantine.ts";
import { countsOf } from "../src/services/junit.ts";
import { ADMIN_TOKEN, buildTestApp } from "./helpers/build-app.ts";
import type { TestApp } from "./helpers/build-app.ts";
import { night, seedLab, seedRun } from "./helpers/seed-results.ts";
import type { SeedResult } from "./helpers/seed-results.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const XSD = join(import.meta.dirname, "fixtures/junit.xsd");

let t: TestApp;
let boards: Map<string, string>;
const get = async <T>(url: string, headers: Record<string, string> = {}) => {
  const res = await t.fastify.inject({ method: "GET", url, headers });
  return { status: res.statusCode, body: (String(res.headers["content-type"] ?? "").includes("json") ? res.json() : res.body) as T, res };
};

/**
 * Twelve nights on nrf-1 (tx) + nrf-2 (rx), commits c00..c11:
 *  - radio_tx passes until c05 and fails from c06 on: an active regression first failing at c06.
 *  - radio_rx fails at c02 and c03 only: a regression fixed in c04.
 *  - extra/alternating passes and fails on alternate nights: flaky, never a regression.
 */
const NIGHTS = 12;
async function seedHistory() {
  for (let i = 0; i < NIGHTS; i++) {
    const tx: SeedResult =
      i >= 6 ? { test: "radio_tx", status: "fail", message: `no ack at night ${i}` } : { test: "radio_tx", status: "pass" };
    const rx: SeedResult =
      i === 2 || i === 3 ? { test: "radio_rx", status: "fail", message: "crc mismatch" } : { test: "radio_rx", status: "pass" };
    await seedRun(t.prisma, boards, {
      ref: `c${String(i).padStart(2, "0")}`,
      createdAt: night(i),
      status: i >= 6 || i === 2 || i === 3 || i % 2 === 1 ? "failed" : "passed",
      jobs: [
        {
          suite: "ieee802154",
          tests: ["radio_tx", "radio_rx"],
          status: tx.status === "fail" || rx.status === "fail" ? "failed" : "passed",
          attempts: [{ boards: { tx: "nrf-1", rx: "nrf-2" }, results: [{ ...tx, measurements: { rssi: -40 - i } }, rx] }],
        },
        {
          suite: "extra",
          tests: ["alternating"],
          status: i % 2 === 1 ? "failed" : "passed",
          attempts: [{ boards: { dut: "nrf-3" }, results: [{ test: "alternating", status: i % 2 === 1 ? "fail" : "pass" }] }],
        },
      ],
    });
  }
}

beforeAll(async () => {
  t = await buildTestApp();
  boards = await seedLab(t.prisma, ["nrf-1", "nrf-2", "nrf-3"]);
  await seedHistory();
});
afterAll(async () => {
  await t?.close();
});

describe("regressions and flaky tests", () => {
  it("reports the commit a test broke at, and a fixed regression with the run that fixed it", async () => {
    const { status, body } = await get<RegressionList>("/api/v1/regressions");
    expect(status).toBe(200);
    const tx = body.regressions.find((r) => r.test === "radio_tx")!;
    expect(tx).toMatchObject({ suite: "ieee802154", state: "active", boards: ["nrf-1"], failures: NIGHTS - 6 });
    expect(tx.firstFailing.ref).toBe("c06");
    expect(tx.lastPassing.ref).toBe("c05");
    expect(tx.fixedIn).toBeNull();
    expect(tx.message).toBe(`no ack at night ${NIGHTS - 1}`);
    const rx = body.regressions.find((r) => r.test === "radio_rx")!;
    // radio_rx uses both roles, so both boards are affected.
    expect(rx).toMatchObject({ state: "fixed", boards: ["nrf-1", "nrf-2"], failures: 4 });
    expect([rx.firstFailing.ref, rx.lastPassing.ref, rx.fixedIn?.ref]).toEqual(["c02", "c01", "c04"]);
    expect(body.regressions.some((r) => r.test === "alternating")).toBe(false);

    const active = await get<RegressionList>("/api/v1/regressions?state=active");
    expect(active.body.regressions.map((r) => r.test)).toEqual(["radio_tx"]);
  });

  it("gives an alternating test a high flake score and a test that broke once a low one", async () => {
    const { body } = await get<FlakyList>("/api/v1/flaky?runs=30&minScore=0");
    const alt = body.flaky.find((f) => f.test === "alternating")!;
    expect(alt).toMatchObject({ board: "nrf-3", runs: NIGHTS, flips: NIGHTS - 1, score: 1 });
    const tx = body.flaky.find((f) => f.test === "radio_tx");
    expect(tx?.score ?? 0).toBeLessThan(0.3);
    const high = await get<FlakyList>("/api/v1/flaky");
    expect(high.body.flaky.map((f) => f.test)).toEqual(["alternating"]);
  });

  it("serves a test's history per board with pass rate, flake score and measurements", async () => {
    const { status, body } = await get<TestHistory>("/api/v1/tests/ieee802154/radio_tx/history");
    expect(status).toBe(200);
    expect(body.boards).toEqual([{ board: "nrf-1", runs: NIGHTS, passRate: 0.5, flakeScore: expect.any(Number) }]);
    expect(body.entries).toHaveLength(NIGHTS);
    expect(body.entries[0]).toMatchObject({
      board: "nrf-1",
      status: "fail",
      run: { ref: "c11", trigger: "nightly" },
      measurements: { rssi: -51 },
    });
    const page = await get<TestHistory>("/api/v1/tests/ieee802154/radio_tx/history?runs=5");
    expect(page.body.entries.map((e) => e.run.ref)).toEqual(["c11", "c10", "c09", "c08", "c07"]);
    const older = await get<TestHistory>(`/api/v1/tests/ieee802154/radio_tx/history?runs=5&before=${page.body.nextBefore}`);
    expect(older.body.entries.map((e) => e.run.ref)).toEqual(["c06", "c05", "c04", "c03", "c02"]);
  });

  it("answers unknown tests and bad parameters with 4xx that say what to fix", async () => {
    const unknown = await get<{ error: { message: string } }>("/api/v1/tests/ieee802154/nope/history");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain("radio_tx");
    const bad = await get<{ error: { message: string } }>("/api/v1/tests/ieee802154/radio_tx/history?before=yesterday");
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("ISO");
    expect((await get("/api/v1/regressions?trigger=sometimes")).status).toBe(400);
  });
});

describe("the nightly matrix", () => {
  it("has one row per test and board with one letter per night, oldest first", async () => {
    const { body } = await get<Matrix>("/api/v1/matrix");
    expect(body.nights.map((n) => n.ref)).toEqual(Array.from({ length: NIGHTS }, (_, i) => `c${String(i).padStart(2, "0")}`));
    const row = (test: string, board: string) => body.rows.find((r) => r.test === test && r.board === board)!;
    expect(row("radio_tx", "nrf-1").cells).toBe("PPPPPPFFFFFF");
    // radio_tx runs on the tx role only: no row for the rx board.
    expect(body.rows.some((r) => r.test === "radio_tx" && r.board === "nrf-2")).toBe(false);
    expect(row("alternating", "nrf-3")).toMatchObject({ cells: "PFPFPFPFPFPF", flakeScore: 1, quarantined: false });
    const last5 = await get<Matrix>("/api/v1/matrix?runs=5");
    expect(last5.body.nights).toHaveLength(5);
  });
});

describe("quarantine", () => {
  it("marks the test and keeps its failures from failing the run", async () => {
    const put = await t.fastify.inject({
      method: "PUT",
      url: "/api/v1/quarantine/ieee802154/radio_tx",
      headers: auth,
      payload: { reason: "tracked in #42", days: 7 },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ suite: "ieee802154", test: "radio_tx", reason: "tracked in #42" });
    expect((await get<Matrix>("/api/v1/matrix")).body.rows.find((r) => r.test === "radio_tx")?.quarantined).toBe(true);

    // The newest night failed only radio_tx: with it quarantined the job counts as passed.
    const jobs = await t.prisma.job.findMany({ where: { run: { ref: "c11" } }, select: { id: true, status: true, suite: true } });
    const statuses = await statusesForRunOutcome(t.prisma, jobs);
    expect(statuses).toEqual(jobs.map((j) => (j.suite === "ieee802154" ? "passed" : j.status)));
    // Night c02 failed radio_rx, which is not quarantined.
    const c02 = await t.prisma.job.findMany({ where: { run: { ref: "c02" }, suite: "ieee802154" }, select: { id: true, status: true } });
    expect(await statusesForRunOutcome(t.prisma, c02)).toEqual(["failed"]);

    const unknown = await t.fastify.inject({
      method: "PUT",
      url: "/api/v1/quarantine/ieee802154/nope",
      headers: auth,
      payload: { reason: "why not" },
    });
    expect(unknown.statusCode).toBe(404);
    const anon = await t.fastify.inject({ method: "PUT", url: "/api/v1/quarantine/ieee802154/radio_tx", payload: { reason: "why not" } });
    expect(anon.statusCode).toBe(401);
    const del = await t.fastify.inject({ method: "DELETE", url: "/api/v1/quarantine/ieee802154/radio_tx", headers: auth });
    expect(del.statusCode).toBe(204);
    expect((await t.fastify.inject({ method: "DELETE", url: "/api/v1/quarantine/ieee802154/radio_tx", headers: auth })).statusCode).toBe(
      404,
    );
  });
});

describe("JUnit export", () => {
  it("validates against the JUnit schema and its counts match the REST results", async () => {
    const serial = "boot ok\nradio_rx: waiting\nradio_rx: crc mismatch <0x1f> & more\n";
    const failStart = serial.indexOf("radio_rx: waiting");
    const { runId } = await seedRun(t.prisma, boards, {
      ref: "junit-run",
      trigger: "manual",
      createdAt: night(40),
      status: "failed",
      jobs: [
        {
          suite: "ieee802154",
          tests: ["radio_tx", "radio_rx"],
          status: "failed",
          attempts: [
            {
              boards: { tx: "nrf-1", rx: "nrf-2" },
              results: [
                { test: "radio_tx", status: "fail", try: 1 },
                { test: "radio_tx", status: "pass", try: 2 },
                {
                  test: "radio_rx",
                  status: "fail",
                  message: "crc mismatch",
                  logSpan: { role: "rx", start: failStart, end: serial.length },
                },
              ],
              logs: [{ role: "rx", text: serial }],
            },
          ],
        },
        {
          suite: "extra",
          tests: ["alternating", "flash_check"],
          status: "error",
          attempts: [
            {
              status: "error",
              endReason: "flash_failed",
              boards: { dut: "nrf-3" },
              results: [
                { test: "alternating", status: "error", message: "flash failed: no probe" },
                { test: "flash_check", status: "skip", message: "needs a probe" },
              ],
            },
          ],
        },
        { suite: "later", tests: ["a", "b"], status: "error", endReason: "queue_timeout", attempts: [] },
      ],
    });
    const rest = await get<ResultList>(`/api/v1/runs/${runId}/results`);
    const junit = await get<string>(`/api/v1/runs/${runId}/junit.xml`);
    expect(junit.status).toBe(200);
    expect(junit.res.headers["content-type"]).toContain("application/xml");

    const dir = await mkdtemp(join(tmpdir(), "junit-"));
    await writeFile(join(dir, "run.xml"), junit.body);
    // Throws (non-zero exit) with xmllint's explanation when the document does not validate.
    execFileSync("xmllint", ["--noout", "--schema", XSD, join(dir, "run.xml")], { stdio: "pipe" });

    const doc = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: "",
      isArray: (n) => ["testsuite", "testcase", "property"].includes(n),
    }).parse(junit.body);
    const want = countsOf(rest.body.results);
    expect(want).toEqual({ tests: 6, failures: 1, errors: 1, skipped: 3 });
    const root = doc.testsuites;
    expect([root.tests, root.failures, root.errors, root.skipped].map(Number)).toEqual([
      want.tests,
      want.failures,
      want.errors,
      want.skipped,
    ]);
    const suites = root.testsuite as { name: string; tests: string; testcase: Record<string, unknown>[] }[];
    expect(suites.map((s) => s.name)).toEqual(["ieee802154@nrf-1", "ieee802154@nrf-1+nrf-2", "extra@nrf-3", "later@no-boards"]);
    expect(suites.reduce((n, s) => n + s.testcase.length, 0)).toBe(rest.body.results.length);
    const rx = suites[1]!.testcase[0]!;
    const failure = rx.failure as { message: string; "#text": string };
    expect(failure.message).toBe("crc mismatch");
    // The judged serial excerpt, escaped and decoded back intact.
    expect(failure["#text"]).toContain("radio_rx: crc mismatch <0x1f> & more");
    expect(failure["#text"]).not.toContain("boot ok");
    expect((suites[2]!.testcase[0]!.error as { type: string }).type).toBe("infra");
    expect((suites[3]!.testcase[0]!.skipped as { message: string }).message).toContain("not run");
    expect(suites[0]!.testcase[0]!["system-out"]).toContain("tries: 2");
  });
});

describe("runs list filters", () => {
  it("filters by project, trigger, ref, status and date range with keyset pages", async () => {
    await seedRun(t.prisma, boards, { project: "libtock-c", trigger: "push", ref: "main", createdAt: night(20), jobs: [] });
    const byProject = await get<RunList>("/api/v1/runs?project=libtock-c");
    expect(byProject.body.runs.map((r) => r.ref)).toEqual(["main"]);
    expect((await get<RunList>("/api/v1/runs?trigger=push")).body.runs).toHaveLength(1);
    expect((await get<RunList>("/api/v1/runs?ref=c03")).body.runs.map((r) => r.ref)).toEqual(["c03"]);
    const range = await get<RunList>(`/api/v1/runs?trigger=nightly&from=${night(3).toISOString()}&to=${night(6).toISOString()}`);
    expect(range.body.runs.map((r) => r.ref)).toEqual(["c05", "c04", "c03"]);
    const page1 = await get<RunList>("/api/v1/runs?trigger=nightly&status=failed&limit=3");
    const page2 = await get<RunList>(`/api/v1/runs?trigger=nightly&status=failed&limit=3&cursor=${page1.body.nextCursor}`);
    expect([...page1.body.runs, ...page2.body.runs].map((r) => r.ref)).toEqual(["c11", "c10", "c09", "c08", "c07", "c06"]);
    const bad = await get<{ error: { message: string } }>("/api/v1/runs?from=last-week");
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("ISO date-time");
  });
});

describe("serial logs merged across a job's boards", () => {
  it("orders complete lines by arrival and continues from a cursor", async () => {
    const { jobIds } = await seedRun(t.prisma, boards, {
      ref: "logs",
      trigger: "manual",
      createdAt: night(41),
      jobs: [
        {
          suite: "ieee802154",
          tests: ["radio_tx"],
          status: "running",
          attempts: [
            {
              status: "running",
              boards: { tx: "nrf-1", rx: "nrf-2" },
              results: [],
              logs: [
                { role: "tx", text: "tx: boot\ntx: sen" },
                { role: "rx", text: "rx: boot\n" },
                { role: "tx", text: "d 1\n" },
                { role: "rx", text: "rx: got 1\nrx: par" },
              ],
            },
          ],
        },
      ],
    });
    const first = await get<MergedLog>(`/api/v1/jobs/${jobIds[0]}/logs`);
    expect(first.status).toBe(200);
    expect(first.body.running).toBe(true);
    expect(first.body.lines.map((l) => `${l.board}|${l.text}`)).toEqual([
      "nrf-1|tx: boot",
      "nrf-2|rx: boot",
      "nrf-1|tx: send 1",
      "nrf-2|rx: got 1",
    ]);
    expect(first.body.lines[2]!.offset).toBe("tx: boot\n".length);
    const again = await get<MergedLog>(`/api/v1/jobs/${jobIds[0]}/logs?cursor=${first.body.cursor}`);
    expect(again.body.lines).toEqual([]);
    expect((await get(`/api/v1/jobs/${jobIds[0]}/logs?cursor=garbage`)).status).toBe(400);
    expect((await get(`/api/v1/jobs/${jobIds[0]}/logs?attempt=7`)).status).toBe(404);
  });
});

describe("boards, tokens, metrics, queue board", () => {
  it("reports board statistics and lets admins take boards out of service", async () => {
    const stats = await get<{ boards: { name: string; id: string; attempts: number; infraErrors: number; infraErrorRate: number }[] }>(
      "/api/v1/boards/stats?days=365",
    );
    const nrf3 = stats.body.boards.find((b) => b.name === "nrf-3")!;
    expect(nrf3.attempts).toBeGreaterThan(NIGHTS);
    expect(nrf3.infraErrors).toBe(1);
    const patch = (payload: unknown, headers: Record<string, string> = auth) =>
      t.fastify.inject({ method: "PATCH", url: `/api/v1/boards/${nrf3.id}`, headers, payload: payload as object });
    expect((await patch({ health: "maintenance" })).json().boards[0].health).toBe("maintenance");
    expect((await patch({ health: "good" })).statusCode).toBe(400);
    expect((await patch({ health: "retired" }, {})).statusCode).toBe(401);
    expect((await patch({ health: "retired" })).statusCode).toBe(200);
    expect((await patch({ health: "maintenance" })).statusCode).toBe(409);
    const back = await patch({ health: "unknown" });
    expect(back.json().boards[0]).toMatchObject({ health: "unknown", consecutiveInfraErrors: 0 });
  });

  it("lists and revokes API tokens, but never the last admin token", async () => {
    const created = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/tokens",
      headers: auth,
      payload: { name: "ci", scopes: ["read"] },
    });
    const { id } = created.json();
    const list = await get<{ tokens: { id: string; name: string }[] }>("/api/v1/tokens", auth);
    expect(list.body.tokens.map((x) => x.name)).toContain("ci");
    expect(JSON.stringify(list.body)).not.toContain("tokenHash");
    expect((await t.fastify.inject({ method: "DELETE", url: `/api/v1/tokens/${id}`, headers: auth })).statusCode).toBe(200);
    expect((await t.fastify.inject({ method: "DELETE", url: `/api/v1/tokens/${id}`, headers: auth })).statusCode).toBe(409);
    const admin = list.body.tokens.find((x) => x.name.startsWith("bootstrap-admin"))!;
    const last = await t.fastify.inject({ method: "DELETE", url: `/api/v1/tokens/${admin.id}`, headers: auth });
    expect(last.statusCode).toBe(409);
    expect(last.json().error.message).toContain("last admin token");
    const reg = await t.fastify.inject({ method: "POST", url: "/api/v1/registration-tokens", headers: auth, payload: {} });
    expect(reg.statusCode).toBe(201);
    const regs = await get<{ tokens: { id: string }[] }>("/api/v1/registration-tokens", auth);
    expect(regs.body.tokens).toHaveLength(1);
    expect(
      (await t.fastify.inject({ method: "DELETE", url: `/api/v1/registration-tokens/${regs.body.tokens[0]!.id}`, headers: auth }))
        .statusCode,
    ).toBe(204);
    expect((await get("/api/v1/tokens")).status).toBe(401);
  });

  it("exports Prometheus metrics", async () => {
    const { status, body } = await get<string>("/metrics");
    expect(status).toBe(200);
    for (const name of [
      "hil_queue_jobs",
      "hil_boards",
      "hil_board_consecutive_infra_errors",
      "hil_job_duration_seconds",
      "hil_infra_errors_total",
      "hil_jobs",
    ]) {
      expect(body).toContain(name);
    }
    // nrf-1 and nrf-2 hold the running attempt seeded for the log test.
    expect(body).toMatch(/hil_boards\{type="nrf52840dk",health="good",state="busy"\} 2/);
  });

  it("puts the queue board behind an admin token", async () => {
    const anon = await t.fastify.inject({ method: "GET", url: "/admin/queues" });
    expect(anon.statusCode).toBe(401);
    expect(anon.headers["www-authenticate"]).toContain("Basic");
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64")}`;
    const ok = await t.fastify.inject({ method: "GET", url: "/admin/queues", headers: { authorization: basic } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain("<html");
    const api = await t.fastify.inject({ method: "GET", url: "/admin/queues/api/queues", headers: { authorization: basic } });
    expect(api.statusCode).toBe(200);
  });

  it("serves the dashboard from the API", async () => {
    const res = await t.fastify.inject({ method: "GET", url: "/dashboard/" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain("<title>");
  });
});
