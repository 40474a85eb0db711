/**
 * The `hil` CLI as users run it (node bin/hil.js) against the real API process: token management, listing and
 * showing runs with filters, results, following a finished run (exit code), JUnit export and readable errors.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertJob } from "../../api/test/helpers/jobs.ts";
import { ADMIN, repoRoot, startApiOnly } from "../../api/test/helpers/processes.ts";
import { night, seedLab, seedRun } from "../../api/test/helpers/seed-results.ts";

let api: Awaited<ReturnType<typeof startApiOnly>>;
let failedRun: string;

/** `token: null` runs without any token. */
const hil = (args: string[], token: string | null = ADMIN) =>
  execa(process.execPath, ["apps/cli/bin/hil.js", ...args], {
    cwd: repoRoot,
    reject: false,
    timeout: 30_000,
    env: { HIL_URL: api.api.url, HIL_TOKEN: token ?? "" },
  });

beforeAll(async () => {
  api = await startApiOnly();
  const boards = await seedLab(api.prisma, ["nrf-1", "nrf-2"]);
  for (let i = 0; i < 3; i++) {
    const { runId } = await seedRun(api.prisma, boards, {
      ref: `c${i}`,
      createdAt: night(i),
      status: i === 2 ? "failed" : "passed",
      jobs: [
        {
          suite: "ieee802154",
          tests: ["radio_tx"],
          status: i === 2 ? "failed" : "passed",
          attempts: [
            {
              boards: { tx: "nrf-1", rx: "nrf-2" },
              results: [{ test: "radio_tx", status: i === 2 ? "fail" : "pass", message: i === 2 ? "no ack" : undefined }],
            },
          ],
        },
      ],
    });
    if (i === 2) failedRun = runId;
  }
}, 120_000);
afterAll(async () => {
  await api?.close();
});

describe("hil CLI", () => {
  it("creates, lists and revokes API tokens and registration tokens", async () => {
    const created = await hil(["--json", "tokens", "create", "--name", "ci", "--scope", "read,trigger"]);
    expect(created.exitCode, created.stderr).toBe(0);
    const { id, token } = JSON.parse(created.stdout) as { id: string; token: string };
    expect(token).toMatch(/^hil_api_/);
    const list = await hil(["tokens", "list"]);
    expect(list.stdout).toMatch(/ci\s+read,trigger/);
    expect((await hil(["tokens", "revoke", id])).stdout).toContain("revoked ci");
    // The revoked token no longer works.
    const denied = await hil(["runs", "list"], token);
    expect(denied.exitCode).toBe(2);
    expect(denied.stderr).toContain("not valid");

    const reg = await hil(["registration-tokens", "create", "--note", "lab-2"]);
    expect(reg.stdout).toMatch(/^hil_reg_/);
    expect((await hil(["registration-tokens", "list"])).stdout).toContain("lab-2");
  });

  it("lists runs with filters, shows one and prints its results", async () => {
    const list = await hil(["runs", "list", "--status", "failed"]);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stdout).toContain(failedRun);
    expect(list.stdout).not.toMatch(/\bc0\b/);
    const page = await hil(["--json", "runs", "list", "--limit", "2"]);
    expect(JSON.parse(page.stdout).nextCursor).toBeTruthy();
    expect((await hil(["runs", "show", failedRun])).stdout).toContain("ieee802154");
    expect((await hil(["runs", "results", failedRun])).stdout).toMatch(/radio_tx\s+nrf-1\s+fail\s+0\.1s\s+no ack/);
  });

  it("follows a run to its end and exits 1 when it did not pass", async () => {
    const follow = await hil(["runs", "follow", failedRun, "--interval", "100"]);
    expect(follow.exitCode).toBe(1);
    expect(follow.stdout).toContain("FAIL    ieee802154/radio_tx on nrf-1: no ack");
    expect(follow.stdout).toContain("failed: 1/1 jobs finished, 1 results");
  });

  it("exports JUnit XML to a file", async () => {
    const out = join(await mkdtemp(join(tmpdir(), "hil-cli-")), "run.xml");
    const res = await hil(["runs", "junit", failedRun, "-o", out]);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(await readFile(out, "utf8")).toContain('<testsuites name="hil run');
  });

  it("re-prioritises and cancels a waiting run, cancels a job; a second cancel is refused", async () => {
    // Jobs for a board type no runner has: they wait in the queue until cancelled.
    const job = await insertJob(api.prisma, { boards: 1, boardType: "nowhere", tests: ["t1"] });
    const cancelledJob = await hil(["jobs", "cancel", job.jobId]);
    expect(cancelledJob.exitCode, cancelledJob.stderr).toBe(0);
    expect(cancelledJob.stdout.trim()).toBe(`job ${job.jobId} cancelled`);
    expect((await api.prisma.job.findUniqueOrThrow({ where: { id: job.jobId } })).status).toBe("cancelled");

    const run = await insertJob(api.prisma, { boards: 1, boardType: "nowhere", tests: ["t1", "t2"] });
    const shown = await hil(["runs", "show", run.runId]);
    expect(shown.stdout).toContain("bench is waiting: no runner has a nowhere board (needs nowhere on one runner)");
    const bumped = await hil(["runs", "priority", run.runId, "700"]);
    expect(bumped.exitCode, bumped.stderr).toBe(0);
    expect(bumped.stdout.trim()).toBe(`run ${run.runId} queued, priority 700`);
    expect((await api.prisma.job.findUniqueOrThrow({ where: { id: run.jobId } })).priority).toBe(700);
    const cancelledRun = await hil(["--json", "runs", "cancel", run.runId]);
    expect(cancelledRun.exitCode, cancelledRun.stderr).toBe(0);
    expect(JSON.parse(cancelledRun.stdout)).toMatchObject({ id: run.runId, status: "cancelled", jobs: [{ status: "cancelled" }] });
    // Tests of a job that never got boards have no result rows; the results API reports them not_run, with why.
    const results = await hil(["--json", "runs", "results", run.runId]);
    expect(results.exitCode, results.stderr).toBe(0);
    const items = (JSON.parse(results.stdout) as { results: { test: string; status: string; message: string }[] }).results;
    expect(items.map((r) => [r.test, r.status, r.message])).toEqual([
      ["t1", "not_run", expect.stringMatching(/^cancelled by .+ before it got boards$/)],
      ["t2", "not_run", expect.stringMatching(/^cancelled by .+ before it got boards$/)],
    ]);

    const again = await hil(["jobs", "cancel", job.jobId]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/already/);
  });

  it("explains mistakes on stderr with exit code 2", async () => {
    const unknown = await hil(["runs", "trigger", "--suite", "nope"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("unknown suite(s): nope");
    const anon = await hil(["tokens", "list"], null);
    expect(anon.stderr).toContain("HIL_TOKEN");
    const usage = await hil(["tokens", "create", "--name", "x", "--scope", "root"]);
    expect(usage.exitCode).not.toBe(0);
    expect(usage.stderr).toContain("unknown scope root");
  });
});
