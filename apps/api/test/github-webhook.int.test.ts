/**
 * The GitHub webhook receiver, driven with signed, GitHub-shaped payloads against real Postgres/Redis and a local
 * fake GitHub API (App mode: JWT -> installation token).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeGithub } from "./helpers/fake-github.ts";
import { auth, buildGithubTestApp, deliver, uploadAllFirmware, uploadFirmware } from "./helpers/github-app.ts";
import type { GithubTestApp } from "./helpers/github-app.ts";
import {
  issueCommentPayload,
  mergeGroupPayload,
  pingPayload,
  pullRequestPayload,
  pushPayload,
  sha,
  workflowRunPayload,
} from "./helpers/github-payloads.ts";

let gh: FakeGithub;
let t: GithubTestApp;

const runCount = () => t.prisma.run.count();
const getRun = async (id: string) => (await t.fastify.inject({ url: `/api/v1/runs/${id}` })).json();

/** A GitHub-enabled app on its own database, with firmware uploaded and the tock project watching tock/tock. */
async function tockApp(env: Record<string, string> = {}): Promise<GithubTestApp> {
  const dir = mkdtempSync(join(tmpdir(), "hil-gh-"));
  writeFileSync(join(dir, "app.pem"), gh.privateKeyPem);
  const app = await buildGithubTestApp({
    env: { GITHUB_API_URL: gh.url, GITHUB_APP_ID: "777", GITHUB_APP_PRIVATE_KEY_PATH: join(dir, "app.pem"), ...env },
  });
  await uploadAllFirmware(app);
  const created = await app.fastify.inject({
    method: "POST",
    url: "/api/v1/projects",
    headers: auth(),
    payload: {
      name: "tock",
      repositories: ["tock/tock"],
      pathFilters: [
        { paths: ["capsules/extra/src/ieee802154/**", "chips/nrf52840/src/ieee802154_radio.rs"], suites: ["ieee802154", "openthread"] },
        { paths: ["capsules/extra/src/net/ethernet/**"], suites: ["ethernet"] },
        { paths: ["kernel/**", "arch/**"], suites: ["ieee802154", "openthread", "ethernet"] },
      ],
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  return app;
}

beforeAll(async () => {
  gh = await FakeGithub.start();
  t = await tockApp();
});

afterAll(async () => {
  await t?.close();
  await gh?.close();
});

describe("signature and de-duplication", () => {
  it("answers a ping", async () => {
    const { res, json } = await deliver(t, "ping", pingPayload);
    expect(res.statusCode).toBe(200);
    expect(json.outcome).toBe("pong");
  });

  it("refuses a missing or wrong signature with 401 and creates nothing", async () => {
    const before = await runCount();
    const payload = pushPayload({ after: sha("unsigned"), files: ["kernel/src/lib.rs"] });
    const missing = await deliver(t, "push", payload, { secret: null });
    expect(missing.res.statusCode).toBe(401);
    expect(missing.json.error.code).toBe("UNAUTHORIZED");
    expect(missing.json.error.message).toContain("GITHUB_WEBHOOK_SECRET");
    const wrong = await deliver(t, "push", payload, { secret: "not-the-secret-at-all-000" });
    expect(wrong.res.statusCode).toBe(401);
    const garbage = await deliver(t, "push", payload, { signature: "sha1=deadbeef" });
    expect(garbage.res.statusCode).toBe(401);
    expect(await runCount()).toBe(before);
    expect(await t.prisma.webhookDelivery.count({ where: { deliveryId: { in: [missing.deliveryId, wrong.deliveryId] } } })).toBe(0);
  });

  it("answers 400 with the field to fix for a payload GitHub would not send, and 415 for form-encoded webhooks", async () => {
    const bad = await deliver(t, "push", { ref: "refs/heads/master", repository: { full_name: "tock/tock" } });
    expect(bad.res.statusCode).toBe(400);
    expect(bad.json.error.message).toMatch(/after/);
    const form = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/github/webhook",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-github-event": "push", "x-github-delivery": "x" },
      payload: "payload=%7B%7D",
    });
    expect(form.statusCode).toBe(415);
    expect(form.json().error.message).toContain("application/json");
  });
});

describe("push", () => {
  it("creates a run with the suites its changed paths select; a replayed delivery creates nothing", async () => {
    const after = sha("push-radio");
    const payload = pushPayload({ after, files: ["capsules/extra/src/ieee802154/driver.rs", "doc/Networking.md"] });
    const first = await deliver(t, "push", payload);
    expect(first.res.statusCode, first.res.body).toBe(200);
    expect(first.json.duplicate).toBe(false);
    expect(first.json.runIds).toHaveLength(1);
    const run = await getRun(first.json.runIds[0]);
    expect(run).toMatchObject({ project: "tock", trigger: "push", ref: after, priority: 150 });
    expect([...run.suites].sort()).toEqual(["ieee802154", "openthread"]);

    const count = await runCount();
    const replay = await deliver(t, "push", payload, { deliveryId: first.deliveryId });
    expect(replay.res.statusCode).toBe(200);
    expect(replay.json).toMatchObject({ duplicate: true, runIds: [] });
    expect(replay.json.outcome).toContain("queued");
    expect(await runCount()).toBe(count);
  });

  it("runs only the Ethernet suite for an Ethernet change, and nothing for a docs-only change", async () => {
    const eth = await deliver(t, "push", pushPayload({ after: sha("push-eth"), files: ["capsules/extra/src/net/ethernet/frame.rs"] }));
    expect((await getRun(eth.json.runIds[0])).suites).toEqual(["ethernet"]);
    const before = await runCount();
    const docs = await deliver(t, "push", pushPayload({ after: sha("push-docs"), files: ["doc/Getting_Started.md"] }));
    expect(docs.res.statusCode).toBe(200);
    expect(docs.json.outcome).toMatch(/no path filter matches/);
    expect(await runCount()).toBe(before);
  });

  it("ignores pushes to other branches and to repositories no project lists", async () => {
    const before = await runCount();
    const branch = await deliver(t, "push", pushPayload({ ref: "refs/heads/feature", after: sha("b"), files: ["kernel/src/a.rs"] }));
    expect(branch.json.outcome).toMatch(/neither the default nor the nightly branch/);
    const other = await deliver(t, "push", pushPayload({ repo: "someone/else", after: sha("o"), files: ["kernel/src/a.rs"] }));
    expect(other.json.outcome).toBe("ignored: no project lists someone/else");
    expect(await runCount()).toBe(before);
  });
});

describe("pull requests", () => {
  it("runs a same-repository pull request at once, with the files GitHub's compare API lists", async () => {
    const head = sha("pr-same-head");
    const base = sha("pr-same-base");
    gh.compares.set(`${base}...${head}`, ["kernel/src/process.rs"]);
    const { json } = await deliver(
      t,
      "pull_request",
      pullRequestPayload({ action: "opened", number: 10, headSha: head, baseSha: base, fork: false }),
    );
    expect(json.runIds).toHaveLength(1);
    const run = await getRun(json.runIds[0]);
    expect(run).toMatchObject({ trigger: "pull_request", ref: head, priority: 200 });
    expect(run.suites).toHaveLength(3);
    // The compare call was made with an installation token minted from the App JWT.
    const compare = gh.find("GET", /\/compare\//).at(-1)!;
    expect(compare.authorization).toMatch(/^Bearer ghs_fake_/);
    expect(gh.find("POST", /^\/app\/installations\/4242\/access_tokens$/).length).toBeGreaterThan(0);
    // A check run announces the queued run.
    const check = [...gh.checkRuns.values()].find((c) => c.head_sha === head);
    expect(check).toMatchObject({ name: "tock-hil / tock", status: "queued", details_url: `https://hil.example.org/runs/${run.id}` });
  });

  it("cancels the run of an older head when the pull request moves on (never a newer one), and the last one when it is closed unmerged", async () => {
    const base = sha("pr-moves-base");
    const first = sha("pr-moves-1");
    const second = sha("pr-moves-2");
    gh.compares.set(`${base}...${first}`, ["kernel/src/process.rs"]);
    gh.compares.set(`${base}...${second}`, ["kernel/src/process.rs"]);
    const opened = await deliver(
      t,
      "pull_request",
      pullRequestPayload({ action: "opened", number: 30, headSha: first, baseSha: base, fork: false }),
    );
    const [runA] = opened.json.runIds as string[];
    expect((await getRun(runA!)).status).toBe("queued");
    // Its jobs are planned (in the background) before the next push, so there are tests to end not_run.
    await expect.poll(async () => (await getRun(runA!)).jobs.length, { timeout: 10_000 }).toBeGreaterThan(0);

    const pushed = await deliver(
      t,
      "pull_request",
      pullRequestPayload({ action: "synchronize", number: 30, headSha: second, baseSha: base, fork: false }),
    );
    const [runB] = pushed.json.runIds as string[];
    expect(runB).toBeDefined();
    expect(await getRun(runA!)).toMatchObject({
      status: "cancelled",
      message: `cancelled by GitHub: pull request #30 superseded by ${second.slice(0, 7)}`,
    });
    expect((await getRun(runB!)).status).toBe("queued");
    expect(pushed.json.outcome).toContain(`run ${runA} cancelled: pull request superseded by ${second.slice(0, 7)}`);
    // Every test of the cancelled run ends not_run with the reason; none is lost.
    const { results } = (await t.fastify.inject({ url: `/api/v1/runs/${runA}/results` })).json();
    expect(results.length).toBeGreaterThan(0);
    expect(new Set(results.map((r: { status: string }) => r.status))).toEqual(new Set(["not_run"]));

    // A late (or redelivered) event about the older head cancels nothing newer than itself.
    const late = await deliver(
      t,
      "pull_request",
      pullRequestPayload({
        action: "synchronize",
        number: 30,
        headSha: first,
        baseSha: base,
        fork: false,
        updatedAt: new Date(Date.now() - 60_000).toISOString(),
      }),
    );
    expect(late.json.runIds).toEqual([]);
    expect((await getRun(runB!)).status).toBe("queued");
    // Merging keeps the merged head's run; closing without merging cancels it.
    await deliver(
      t,
      "pull_request",
      pullRequestPayload({ action: "closed", number: 30, headSha: second, baseSha: base, fork: false, merged: true }),
    );
    expect((await getRun(runB!)).status).toBe("queued");
    const closed = await deliver(
      t,
      "pull_request",
      pullRequestPayload({ action: "closed", number: 30, headSha: second, baseSha: base, fork: false }),
    );
    expect(closed.json.outcome).toContain(`run ${runB} cancelled: pull request closed`);
    expect((await getRun(runB!)).status).toBe("cancelled");
  });

  it("cancels the head a push replaced even when GitHub's clock makes the push look older than its run", async () => {
    const base = sha("pr-quick-base");
    const first = sha("pr-quick-1");
    const second = sha("pr-quick-2");
    gh.compares.set(`${base}...${first}`, ["kernel/src/process.rs"]);
    gh.compares.set(`${base}...${second}`, ["kernel/src/process.rs"]);
    const [runA] = (
      await deliver(t, "pull_request", pullRequestPayload({ action: "opened", number: 32, headSha: first, baseSha: base, fork: false }))
    ).json.runIds as string[];
    expect(runA).toBeDefined();
    // updated_at has whole seconds and GitHub's clock is not ours: here it is a minute behind.
    const pushed = await deliver(
      t,
      "pull_request",
      pullRequestPayload({
        action: "synchronize",
        number: 32,
        headSha: second,
        before: first,
        baseSha: base,
        fork: false,
        updatedAt: new Date(Date.now() - 60_000).toISOString(),
      }),
    );
    expect(pushed.json.outcome).toContain(`run ${runA} cancelled: pull request superseded by ${second.slice(0, 7)}`);
    expect((await getRun(runA!)).status).toBe("cancelled");
    expect((await getRun(pushed.json.runIds[0])).status).toBe("queued");
  });

  it("keeps the runs of older heads when HIL_GITHUB_CANCEL_SUPERSEDED is false", async () => {
    const keeper = await tockApp({ HIL_GITHUB_CANCEL_SUPERSEDED: "false" });
    try {
      const base = sha("pr-keep-base");
      const first = sha("pr-keep-1");
      const second = sha("pr-keep-2");
      gh.compares.set(`${base}...${first}`, ["kernel/src/process.rs"]);
      gh.compares.set(`${base}...${second}`, ["kernel/src/process.rs"]);
      const payload = (action: "opened" | "synchronize" | "closed", headSha: string) =>
        pullRequestPayload({ action, number: 31, headSha, baseSha: base, fork: false });
      const [runA] = (await deliver(keeper, "pull_request", payload("opened", first))).json.runIds as string[];
      expect(runA).toBeDefined();
      const pushed = await deliver(keeper, "pull_request", payload("synchronize", second));
      expect(pushed.json.runIds).toHaveLength(1);
      expect(pushed.json.outcome).not.toContain("cancelled");
      await deliver(keeper, "pull_request", payload("closed", second));
      const runs = await keeper.prisma.run.findMany({ where: { id: { in: [runA!, pushed.json.runIds[0]] } }, select: { status: true } });
      expect(runs.map((r) => r.status)).toEqual(["queued", "queued"]);
    } finally {
      await keeper.close();
    }
  });

  it("makes a fork pull request wait until a maintainer adds the approval label", async () => {
    const head = sha("fork-head-1");
    const base = sha("fork-base");
    gh.compares.set(`${base}...${head}`, ["chips/nrf52840/src/ieee802154_radio.rs"]);
    const before = await runCount();
    const opened = await deliver(
      t,
      "pull_request",
      pullRequestPayload({ action: "opened", number: 20, headSha: head, baseSha: base, fork: true }),
    );
    expect(opened.json.runIds).toEqual([]);
    expect(opened.json.outcome).toMatch(/waits for approval/);
    expect(await runCount()).toBe(before);
    const waiting = [...gh.checkRuns.values()].find((c) => c.head_sha === head);
    expect((waiting?.output as { summary: string }).summary).toContain("hil-approved");

    const otherLabel = await deliver(
      t,
      "pull_request",
      pullRequestPayload({
        action: "labeled",
        number: 20,
        headSha: head,
        baseSha: base,
        fork: true,
        label: "waiting-on-author",
        sender: "bradjc",
      }),
    );
    expect(otherLabel.json.runIds).toEqual([]);
    const approved = await deliver(
      t,
      "pull_request",
      pullRequestPayload({
        action: "labeled",
        number: 20,
        headSha: head,
        baseSha: base,
        fork: true,
        label: "hil-approved",
        sender: "bradjc",
      }),
    );
    expect(approved.json.runIds).toHaveLength(1);
    const run = await getRun(approved.json.runIds[0]);
    expect(run).toMatchObject({ trigger: "pull_request", ref: head });
    expect([...run.suites].sort()).toEqual(["ieee802154", "openthread"]);
  });

  it("needs a new approval after the fork pushes again; /hil run from a collaborator approves, from others it does not", async () => {
    const head = sha("fork-head-2");
    const base = sha("fork-base");
    gh.compares.set(`${base}...${head}`, ["kernel/src/grant.rs"]);
    const sync = await deliver(
      t,
      "pull_request",
      pullRequestPayload({ action: "synchronize", number: 20, headSha: head, baseSha: base, fork: true }),
    );
    expect(sync.json.runIds).toEqual([]);
    expect(sync.json.outcome).toMatch(/waits for approval/);

    const stranger = await deliver(
      t,
      "issue_comment",
      issueCommentPayload({ number: 20, body: "/hil run", login: "contributor", association: "CONTRIBUTOR" }),
    );
    expect(stranger.json.runIds).toEqual([]);
    expect(stranger.json.outcome).toMatch(/no write access/);

    gh.permissions.set("ppannuto", "maintain");
    const maintainer = await deliver(
      t,
      "issue_comment",
      issueCommentPayload({ number: 20, body: "Looks safe.\n/hil run", login: "ppannuto", association: "MEMBER" }),
    );
    expect(maintainer.json.runIds).toHaveLength(1);
    expect((await getRun(maintainer.json.runIds[0])).ref).toBe(head);
    expect(gh.find("GET", /\/collaborators\/ppannuto\/permission$/)).toHaveLength(1);
    // The approval used the waiting trigger; nothing else waits on the pull request.
    const states = await t.prisma.githubTrigger.findMany({ where: { pullNumber: 20 }, select: { headSha: true, state: true } });
    expect(states.filter((s) => s.state === "waiting_approval")).toEqual([]);
  });

  it("runs a merge group with the pull-request priority", async () => {
    const head = sha("mg-head");
    const base = sha("mg-base");
    gh.compares.set(`${base}...${head}`, ["arch/cortex-m/src/lib.rs"]);
    const { json } = await deliver(t, "merge_group", mergeGroupPayload({ headSha: head, baseSha: base }));
    expect(json.runIds).toHaveLength(1);
    expect(await getRun(json.runIds[0])).toMatchObject({ trigger: "push", ref: head, priority: 200 });
  });
});

describe("firmware from a CI workflow", () => {
  it("waits for workflow_run completed, then flashes the firmware uploaded for that commit", async () => {
    const p = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects",
      headers: auth(),
      payload: { name: "libtock-c", repositories: ["tock/libtock-c"], suites: ["ieee802154"], firmwareWorkflow: "hil-firmware" },
    });
    expect(p.statusCode, p.body).toBe(201);
    const after = sha("ltc-push");
    const push = await deliver(
      t,
      "push",
      pushPayload({ repo: "tock/libtock-c", after, files: ["examples/tests/ieee802154/radio_tx/main.c"] }),
    );
    expect(push.json.runIds).toEqual([]);
    expect(push.json.outcome).toMatch(/waiting for firmware from workflow hil-firmware/);

    const kernel = await uploadFirmware(t, "nrf52840dk", "nrf52840dk", Buffer.from("kernel built by CI"), after);
    const app = await uploadFirmware(t, "radio_tx", "nrf52840dk", Buffer.from("radio_tx built by CI"), after);
    const wf = { ...workflowRunPayload({ name: "hil-firmware", headSha: after, conclusion: "success" }) };
    wf.repository = { ...wf.repository, full_name: "tock/libtock-c" };
    const done = await deliver(t, "workflow_run", wf);
    expect(done.json.runIds, done.json.outcome).toHaveLength(1);
    const runRow = await t.prisma.run.findUniqueOrThrow({ where: { id: done.json.runIds[0] } });
    expect((runRow.parameters as { firmware: Record<string, string> }).firmware).toEqual({
      nrf52840dk: kernel.sha256,
      radio_tx: app.sha256,
    });
  });

  it("fails the trigger, visibly, when the workflow failed", async () => {
    const after = sha("ltc-push-broken");
    await deliver(t, "push", pushPayload({ repo: "tock/libtock-c", after, files: ["libtock/net/ieee802154.c"] }));
    const wf = workflowRunPayload({ name: "hil-firmware", headSha: after, conclusion: "failure" });
    const done = await deliver(t, "workflow_run", { ...wf, repository: { ...wf.repository, full_name: "tock/libtock-c" } });
    expect(done.json.runIds).toEqual([]);
    expect(done.json.outcome).toMatch(/concluded failure/);
    const check = [...gh.checkRuns.values()].find((c) => c.head_sha === after);
    expect(check).toMatchObject({ status: "completed", conclusion: "failure" });
  });
});

describe("projects", () => {
  it("validates projects with messages that say what to fix", async () => {
    const unknownSuite = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects",
      headers: auth(),
      payload: { name: "x", pathFilters: [{ paths: ["a/**"], suites: ["bluetooth"] }] },
    });
    expect(unknownSuite.statusCode).toBe(400);
    expect(unknownSuite.json().error.message).toMatch(/unknown suite\(s\) bluetooth; known suites: ieee802154, openthread, ethernet/);
    const badCron = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects",
      headers: auth(),
      payload: { name: "x", nightly: { cron: "61 2 * * *" } },
    });
    expect(badCron.statusCode).toBe(400);
    expect(badCron.json().error.message).toMatch(/nightly.cron/);
    const badTz = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects",
      headers: auth(),
      payload: { name: "x", nightly: { cron: "30 2 * * *", timezone: "Mars/Olympus" } },
    });
    expect(badTz.json().error.message).toMatch(/IANA time zone/);
    const badRepo = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects",
      headers: auth(),
      payload: { name: "x", repositories: ["tock"] },
    });
    expect(badRepo.statusCode).toBe(400);
    expect(badRepo.json().error.message).toContain("owner/repo");
    const dup = await t.fastify.inject({ method: "POST", url: "/api/v1/projects", headers: auth(), payload: { name: "tock" } });
    expect(dup.statusCode).toBe(409);
    const anon = await t.fastify.inject({ method: "POST", url: "/api/v1/projects", payload: { name: "y" } });
    expect(anon.statusCode).toBe(401);
  });

  it("reads, patches and deletes a project; one with runs needs deleteRuns", async () => {
    const patched = await t.fastify.inject({
      method: "PATCH",
      url: "/api/v1/projects/tock",
      headers: auth(),
      payload: { approvalLabel: "safe-to-test" },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ name: "tock", approvalLabel: "safe-to-test", repositories: ["tock/tock"] });
    expect((await t.fastify.inject("/api/v1/projects/tock")).json().pathFilters).toHaveLength(3);
    const refused = await t.fastify.inject({ method: "DELETE", url: "/api/v1/projects/tock", headers: auth() });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toMatch(/deleteRuns=true/);
    const empty = await t.fastify.inject({ method: "POST", url: "/api/v1/projects", headers: auth(), payload: { name: "scratch" } });
    expect(empty.statusCode).toBe(201);
    expect((await t.fastify.inject({ method: "DELETE", url: "/api/v1/projects/scratch", headers: auth() })).statusCode).toBe(204);
    expect((await t.fastify.inject("/api/v1/projects/scratch")).statusCode).toBe(404);
  });

  it("lists the GitHub and project routes in the OpenAPI document", async () => {
    const doc = (await t.fastify.inject("/docs/json")).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/v1/github/webhook", "/api/v1/projects", "/api/v1/projects/{name}"]),
    );
  });
});
