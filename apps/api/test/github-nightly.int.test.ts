/**
 * Nightly schedules on real BullMQ job schedulers: a per-second cron fires, a firing is skipped while the branch
 * has not moved, a night missed during downtime is caught up (shifted clock), and projects load from the
 * committed file.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEnv } from "../src/env.ts";
import { catchUpNightlies } from "../src/services/nightly.ts";
import { FakeGithub } from "./helpers/fake-github.ts";
import { auth, buildGithubTestApp, uploadAllFirmware, waitFor } from "./helpers/github-app.ts";
import type { GithubTestApp } from "./helpers/github-app.ts";
import { sha } from "./helpers/github-payloads.ts";

let gh: FakeGithub;
let t: GithubTestApp;
let projectsFile: string;

const nightlyRuns = (project: string) =>
  t.prisma.run.findMany({ where: { trigger: "nightly", project: { name: project } }, orderBy: { createdAt: "asc" } });

beforeAll(async () => {
  gh = await FakeGithub.start();
  const dir = mkdtempSync(join(tmpdir(), "hil-nightly-"));
  projectsFile = join(dir, "projects.json");
  writeFileSync(
    projectsFile,
    JSON.stringify({
      projects: [
        {
          name: "from-file",
          repositories: ["tock/tock"],
          suites: ["ethernet"],
          pathFilters: [{ paths: ["capsules/extra/src/net/**"], suites: ["ethernet"] }],
          nightly: { cron: "30 2 * * *", timezone: "America/New_York", branch: "master" },
        },
      ],
    }),
  );
  t = await buildGithubTestApp({ env: { GITHUB_API_URL: gh.url, GITHUB_TOKEN: gh.token, HIL_PROJECTS_FILE: projectsFile } });
  await uploadAllFirmware(t);
});

afterAll(async () => {
  await t?.close();
  await gh?.close();
});

describe("nightly schedule", () => {
  it("fires on its cron, and skips the firings while the branch has not moved", async () => {
    gh.branches.set("tock/tock:master", sha("nightly-A"));
    const created = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects",
      headers: auth(),
      payload: {
        name: "tock",
        repositories: ["tock/tock"],
        suites: ["ieee802154"],
        nightly: { cron: "* * * * * *", timezone: "UTC", branch: "master" },
      },
    });
    expect(created.statusCode, created.body).toBe(201);

    const [first] = await waitFor("the first nightly run", async () => {
      const runs = await nightlyRuns("tock");
      return runs.length > 0 ? runs : undefined;
    });
    expect(first).toMatchObject({ ref: sha("nightly-A"), priority: 100 });

    // Let the schedule fire a few more times: each firing asks GitHub and skips the unmoved branch.
    const asked = gh.find("GET", /\/branches\/master$/).length;
    await waitFor("more firings", async () => gh.find("GET", /\/branches\/master$/).length >= asked + 2);
    expect(await nightlyRuns("tock")).toHaveLength(1);
    const project = (await t.fastify.inject("/api/v1/projects/tock")).json();
    expect(project.nightly).toMatchObject({ lastSha: sha("nightly-A"), cron: "* * * * * *" });
    expect(Date.parse(project.nightly.lastAt)).toBeGreaterThan(first!.createdAt.getTime());

    // The branch moves: the next firing runs it, once.
    gh.branches.set("tock/tock:master", sha("nightly-B"));
    const runs = await waitFor("the second nightly run", async () => {
      const r = await nightlyRuns("tock");
      return r.length >= 2 ? r : undefined;
    });
    expect(runs[1]!.ref).toBe(sha("nightly-B"));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await nightlyRuns("tock")).toHaveLength(2);

    // Removing the schedule removes the job scheduler.
    const patched = await t.fastify.inject({ method: "PATCH", url: "/api/v1/projects/tock", headers: auth(), payload: { nightly: null } });
    expect(patched.json().nightly).toBeNull();
    const schedulers = await t.fastify.deps.orchestrator.schedulerIds();
    expect(schedulers).not.toContain("nightly:tock");
    expect(schedulers).toContain("nightly:from-file");
  });

  it("runs a forced nightly even when the branch has not moved", async () => {
    gh.branches.set("tock/tock:main", sha("forced"));
    await t.fastify.inject({
      method: "PATCH",
      url: "/api/v1/projects/tock",
      headers: auth(),
      payload: { nightly: { cron: "0 3 * * *", timezone: "UTC", branch: "main" } },
    });
    const first = await t.fastify.inject({ method: "POST", url: "/api/v1/projects/tock/nightly", headers: auth(), payload: {} });
    expect(first.json()).toMatchObject({ status: "queued", sha: sha("forced") });
    const again = await t.fastify.inject({ method: "POST", url: "/api/v1/projects/tock/nightly", headers: auth(), payload: {} });
    expect(again.json().status).toBe("skipped");
    const forced = await t.fastify.inject({
      method: "POST",
      url: "/api/v1/projects/tock/nightly",
      headers: auth(),
      payload: { force: true },
    });
    expect(forced.json()).toMatchObject({ status: "queued", sha: sha("forced") });
  });

  it("catches up a night missed during downtime, once (shifted clock)", async () => {
    const p = await t.prisma.project.findUniqueOrThrow({ where: { name: "from-file" } });
    // The service "was down" at 02:30 New York time tomorrow and comes back at 04:00.
    const tomorrow = new Date(Date.now() + 24 * 3600_000);
    const day = tomorrow.toLocaleDateString("en-CA", { timeZone: "America/New_York" });
    const backAt = new Date(new Date(`${day}T04:00:00Z`).getTime() + offsetMs(tomorrow, "America/New_York"));
    gh.branches.set("tock/tock:master", sha("catch-up"));
    expect(await catchUpNightlies(t.fastify.github, backAt)).toContain("from-file");
    const runs = await waitFor("the caught-up nightly", async () => {
      const r = await nightlyRuns("from-file");
      return r.length > 0 ? r : undefined;
    });
    expect(runs[0]).toMatchObject({ ref: sha("catch-up") });
    await waitFor("lastNightlyAt", async () => (await t.prisma.project.findUniqueOrThrow({ where: { id: p.id } })).lastNightlyAt);
    // Coming back twice (two API processes, a restart) fires the same night at most once: the catch-up job id is
    // per night, and the branch has not moved anyway.
    await catchUpNightlies(t.fastify.github, backAt);
    await new Promise((r) => setTimeout(r, 500));
    expect(await nightlyRuns("from-file")).toHaveLength(1);
  });
});

/** Minus the time zone's UTC offset at `at` (New York 04:00 local = 08:00 or 09:00 UTC). */
function offsetMs(at: Date, timeZone: string): number {
  const local = new Date(at.toLocaleString("en-US", { timeZone }));
  const utc = new Date(at.toLocaleString("en-US", { timeZone: "UTC" }));
  return utc.getTime() - local.getTime();
}

describe("projects file", () => {
  it("loads its projects at start, and they cannot be edited over REST", async () => {
    const p = (await t.fastify.inject("/api/v1/projects/from-file")).json();
    expect(p).toMatchObject({
      managedBy: "file",
      repositories: ["tock/tock"],
      nightly: { cron: "30 2 * * *", timezone: "America/New_York" },
    });
    const patch = await t.fastify.inject({ method: "PATCH", url: "/api/v1/projects/from-file", headers: auth(), payload: { suites: [] } });
    expect(patch.statusCode).toBe(409);
    expect(patch.json().error.message).toMatch(/HIL_PROJECTS_FILE/);
  });

  it("refuses a configuration whose settings contradict, naming the fix", () => {
    const base = { DATABASE_URL: "postgresql://x@127.0.0.1/x", REDIS_URL: "redis://127.0.0.1:6379" };
    expect(() => parseEnv({ ...base, GITHUB_APP_ID: "12" })).toThrow(/GITHUB_APP_PRIVATE_KEY_PATH must name the App's private key/);
    expect(() => parseEnv({ ...base, GITHUB_APP_ID: "12", GITHUB_APP_PRIVATE_KEY_PATH: "/nope.pem" })).toThrow(/no file at \/nope.pem/);
    expect(() => parseEnv({ ...base, GITHUB_WEBHOOK_SECRET: "short" })).toThrow(/openssl rand/);
    expect(() => parseEnv({ ...base, HIL_PROJECTS_FILE: "/nope.json" })).toThrow(/HIL_PROJECTS_FILE/);
    expect(parseEnv(base).GITHUB_API_URL).toBe("https://api.github.com");
  });
});
