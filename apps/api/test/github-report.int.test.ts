/**
 * Reporting finished runs back to GitHub (local fake API) and to outgoing webhooks. Runs really execute: a
 * FakeRunner speaks the runner protocol to the listening API and reports the verdicts each test chooses.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeGithub } from "./helpers/fake-github.ts";
import { FakeRunner } from "./helpers/fake-runner.ts";
import { ADMIN_TOKEN, auth, buildGithubTestApp, deliver, uploadAllFirmware, waitFor } from "./helpers/github-app.ts";
import type { GithubTestApp } from "./helpers/github-app.ts";
import { pushPayload, sha } from "./helpers/github-payloads.ts";

type Verdicts = Record<string, "pass" | "fail">;

/** Leases and completes every job of the run with the given verdict per test, until the run is finished. */
async function execute(t: GithubTestApp, runner: FakeRunner, runId: string, verdicts: Verdicts): Promise<string> {
  return waitFor(`run ${runId} to finish`, async () => {
    const lease = await runner.lease(300);
    if (lease) {
      expect(lease.runId).toBe(runId);
      await runner.results(
        lease.attemptId,
        lease.tests.map((test) => ({
          test,
          try: 1,
          status: verdicts[test] ?? "pass",
          durationMs: 5,
          message: verdicts[test] === "fail" ? `${test}: no ack` : undefined,
        })),
      );
      await runner.finish(lease.attemptId);
    }
    const run = await t.prisma.run.findUniqueOrThrow({ where: { id: runId } });
    return ["passed", "failed", "error", "cancelled"].includes(run.status) ? run.status : undefined;
  });
}

const reported = (t: GithubTestApp, runId: string) =>
  waitFor(`run ${runId} to be reported`, async () => (await t.prisma.runReport.findUnique({ where: { runId } }))?.reportedAt);

describe("with a GitHub App", () => {
  let gh: FakeGithub;
  let t: GithubTestApp;
  let runner: FakeRunner;
  let hookServer: Server;
  const hookDeliveries: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  let hookSecret = "";

  beforeAll(async () => {
    gh = await FakeGithub.start();
    const dir = mkdtempSync(join(tmpdir(), "hil-gh-"));
    writeFileSync(join(dir, "app.pem"), gh.privateKeyPem);
    t = await buildGithubTestApp({
      listen: true,
      env: { GITHUB_API_URL: gh.url, GITHUB_APP_ID: "777", GITHUB_APP_PRIVATE_KEY_PATH: join(dir, "app.pem") },
    });
    await uploadAllFirmware(t);
    runner = await FakeRunner.create(t.url, ADMIN_TOKEN, "lab-1", [
      { name: "nrf-1", type: "nrf52840dk" },
      { name: "nucleo-1", type: "nucleo_f429zi" },
    ]);
    const res = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects",
      headers: auth(),
      payload: {
        name: "tock",
        repositories: ["tock/tock"],
        pathFilters: [{ paths: ["kernel/**"], suites: ["ieee802154", "openthread", "ethernet"] }],
        nightly: { cron: "30 2 * * *", timezone: "Europe/Berlin", branch: "master" },
        suites: ["ieee802154"],
      },
    });
    expect(res.statusCode, res.body).toBe(201);

    hookServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        hookDeliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, "127.0.0.1", r));
    const port = (hookServer.address() as { port: number }).port;
    const hook = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/webhooks",
      headers: auth(),
      payload: { url: `http://127.0.0.1:${port}/hil`, projects: ["tock"] },
    });
    expect(hook.statusCode, hook.body).toBe(201);
    hookSecret = hook.json().secret;
  });

  afterAll(async () => {
    await t?.close();
    await gh?.close();
    await new Promise((r) => hookServer?.close(r));
  });

  it("completes the push's check run with the suite x board matrix and a dashboard link", async () => {
    const after = sha("report-push");
    const { json } = await deliver(t, "push", pushPayload({ after, files: ["kernel/src/kernel.rs"] }));
    const runId: string = json.runIds[0];
    expect(await execute(t, runner, runId, { attach: "fail" })).toBe("failed");
    await reported(t, runId);

    const checks = [...gh.checkRuns.values()].filter((c) => c.head_sha === after);
    expect(checks).toHaveLength(1); // created when queued, then updated in place
    const check = checks[0]!;
    expect(check).toMatchObject({ name: "tock-hil / tock", status: "completed", conclusion: "failure", external_id: runId });
    expect(check.details_url).toBe(`https://hil.example.org/runs/${runId}`);
    const summary = (check.output as { summary: string }).summary;
    expect(summary).toContain("| suite | nrf52840dk | nucleo_f429zi |");
    expect(summary).toContain("| ethernet | — | ✅ 1/1 |");
    expect(summary).toContain("| ieee802154 | ✅ 1/1 | — |");
    expect(summary).toContain("| openthread | ❌ 0/1 | — |");
    expect(summary).toContain("`openthread/attach` on nrf52840dk: fail — attach: no ack");
    // A push is not a nightly: no tracking issue.
    expect(gh.issues.size).toBe(0);
  });

  it("sends finished runs to outgoing webhooks, signed with the subscription's secret", async () => {
    const delivery = await waitFor("an outgoing webhook delivery", async () => hookDeliveries[0]);
    const expected = `sha256=${createHmac("sha256", hookSecret).update(delivery.body).digest("hex")}`;
    expect(delivery.headers["x-hil-signature-256"]).toBe(expected);
    expect(delivery.headers["x-hil-event"]).toBe("run.finished");
    const body = JSON.parse(delivery.body);
    expect(body).toMatchObject({ event: "run.finished", run: { project: "tock", status: "failed" }, counts: { pass: 2, fail: 1 } });
    expect(body.failures).toEqual([{ suite: "openthread", test: "attach", status: "fail", message: "attach: no ack" }]);
  });

  it("opens one issue for a nightly regression, comments while it keeps failing, and closes it when it passes", async () => {
    const night = async (head: string, verdicts: Verdicts) => {
      gh.branches.set("tock/tock:master", head);
      const fired = await t.fastify.inject({ method: "POST", url: "/api/v1/projects/tock/nightly", headers: auth(), payload: {} });
      expect(fired.json(), fired.body).toMatchObject({ status: "queued", sha: head });
      const runId: string = fired.json().runId;
      await execute(t, runner, runId, verdicts);
      await reported(t, runId);
      return runId;
    };

    const night1 = await night(sha("night-1"), { radio_tx: "fail" });
    expect(gh.issues.size).toBe(1);
    const issue = gh.issues.get(1)!;
    expect(issue.title).toBe("[HIL] ieee802154/radio_tx fails on nrf52840dk (tock)");
    expect(issue.body).toContain(`https://hil.example.org/runs/${night1}`);
    expect(issue.body).toContain("radio_tx: no ack");

    const night2 = await night(sha("night-2"), { radio_tx: "fail" });
    expect(gh.issues.size).toBe(1);
    expect(issue.comments).toHaveLength(1);
    expect(issue.comments[0]).toContain(`Still failing in nightly run [${night2}]`);
    expect(issue.state).toBe("open");

    // The same branch head is not tested twice.
    const skipped = await t.fastify.inject({ method: "POST", url: "/api/v1/projects/tock/nightly", headers: auth(), payload: {} });
    expect(skipped.json()).toMatchObject({ status: "skipped" });
    expect(skipped.json().reason).toMatch(/has not moved/);

    const night3 = await night(sha("night-3"), { radio_tx: "pass" });
    expect(issue.comments).toHaveLength(2);
    expect(issue.comments[1]).toContain(`Passes again in nightly run [${night3}]`);
    expect(issue.state).toBe("closed");
    const rows = await t.prisma.trackingIssue.findMany();
    expect(rows).toMatchObject([
      { suite: "ieee802154", test: "radio_tx", boardType: "nrf52840dk", state: "closed", failures: 2, issueNumber: 1 },
    ]);

    // Reporting is done once: later ticks change nothing.
    await new Promise((r) => setTimeout(r, 600));
    expect(issue.comments).toHaveLength(2);
    expect(gh.find("POST", /\/issues$/)).toHaveLength(1);
  });
});

describe("with a token (commit statuses)", () => {
  let gh: FakeGithub;
  let t: GithubTestApp;

  beforeAll(async () => {
    gh = await FakeGithub.start();
    t = await buildGithubTestApp({ listen: true, env: { GITHUB_API_URL: gh.url, GITHUB_TOKEN: gh.token } });
    await uploadAllFirmware(t);
    const res = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects",
      headers: auth(),
      payload: { name: "tock", repositories: ["tock/tock"], suites: ["ethernet"] },
    });
    expect(res.statusCode).toBe(201);
  });
  afterAll(async () => {
    await t?.close();
    await gh?.close();
  });

  it("reports pending when queued and success when the run passes", async () => {
    const runner = await FakeRunner.create(t.url, ADMIN_TOKEN, "lab-2", [{ name: "nucleo-2", type: "nucleo_f429zi" }]);
    const after = sha("token-push");
    const { json } = await deliver(t, "push", pushPayload({ after, files: ["boards/nucleo_f429zi/src/main.rs"] }));
    const runId: string = json.runIds[0];
    expect(await execute(t, runner, runId, {})).toBe("passed");
    await reported(t, runId);
    const statuses = gh.statuses.filter((s) => s.sha === after).map((s) => s.body);
    expect(statuses).toMatchObject([
      { state: "pending", context: "tock-hil / tock" },
      { state: "success", context: "tock-hil / tock", target_url: `https://hil.example.org/runs/${runId}` },
    ]);
    expect(gh.find("POST", /\/statuses\//).every((r) => r.authorization === `Bearer ${gh.token}`)).toBe(true);
  });
});
