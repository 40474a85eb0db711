/**
 * Reporting finished runs: a Check Run (App) or commit status (token) on the commit GitHub asked about, with the
 * suite x board-type matrix; one tracking issue per nightly regression; and outgoing webhooks. A periodic job
 * (`hil.runs.report`) finds finished runs whose RunReport is not done yet, so a report survives restarts and
 * GitHub outages. Every step can be repeated without effect: check runs are updated in place, and tracking issues
 * remember the last run they were told about.
 */
import type { ResultItem } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import { getRunResults } from "../services/runs.ts";
import { enqueueRunDeliveries, sendPendingDeliveries } from "../services/notifications.ts";
import type { SuiteCatalog } from "../suites.ts";
import { checkName, runUrl } from "./context.ts";
import type { GithubContext } from "./context.ts";

/** After this many failed report attempts a run is given up on (lastError says why). */
const MAX_REPORT_ATTEMPTS = 10;
/** How long a reporter holds a run before another one may take it over (it died). */
const CLAIM_MS = 2 * 60_000;
/** Backfilled only for this far back, so enabling a webhook does not replay the whole history. */
const BACKFILL_MS = 24 * 3600_000;
const TERMINAL = ["passed", "failed", "error", "cancelled"] as const;

type Counts = { pass: number; fail: number; error: number; skip: number; not_run: number };
const zero = (): Counts => ({ pass: 0, fail: 0, error: 0, skip: 0, not_run: 0 });

export type Matrix = {
  suites: string[];
  boardTypes: string[];
  cells: Map<string, Counts>;
  totals: Counts;
  /** Each result with the board types its test ran on (joined with "+" for multi-board tests). */
  results: (ResultItem & { boardType: string })[];
};

/** Board types a test ran on: its roles (from the suite manifest) mapped through the job's planned roles. */
function testBoardTypes(catalog: SuiteCatalog, roleTypes: Map<string, string>, suite: string, test: string): string[] {
  const roles = catalog.get(suite)?.tests.find((t) => t.name === test)?.roles ?? [...roleTypes.keys()];
  const types = roles.map((r) => roleTypes.get(r)).filter((t): t is string => t !== undefined);
  return [...new Set(types.length > 0 ? types : roleTypes.values())].sort();
}

export async function buildMatrix(db: Db, catalog: SuiteCatalog, runId: string): Promise<Matrix> {
  const results = await getRunResults(db, catalog, runId);
  const jobs = await db.job.findMany({ where: { runId }, select: { suite: true, roles: true } });
  const roleTypesBySuite = new Map<string, Map<string, string>>();
  for (const job of jobs) {
    const roles = (job.roles as { role: string; boardType: string }[] | null) ?? [];
    roleTypesBySuite.set(job.suite, new Map(roles.map((r) => [r.role, r.boardType])));
  }
  const cells = new Map<string, Counts>();
  const totals = zero();
  const boardTypes = new Set<string>();
  const out: Matrix["results"] = [];
  for (const r of results) {
    const types = testBoardTypes(catalog, roleTypesBySuite.get(r.suite) ?? new Map(), r.suite, r.test);
    for (const type of types) {
      boardTypes.add(type);
      const key = `${r.suite}|${type}`;
      const cell = cells.get(key) ?? zero();
      cell[r.status] += 1;
      cells.set(key, cell);
    }
    totals[r.status] += 1;
    out.push({ ...r, boardType: types.join("+") || "unknown" });
  }
  return { suites: [...new Set(jobs.map((j) => j.suite))].sort(), boardTypes: [...boardTypes].sort(), cells, totals, results: out };
}

function cellText(c: Counts | undefined): string {
  if (!c) return "—";
  const ran = c.pass + c.fail + c.error;
  if (c.fail > 0) return `❌ ${c.pass}/${ran}`;
  if (c.error > 0) return `⚠️ ${c.pass}/${ran}`;
  if (ran === 0) return c.skip > 0 ? "⏭️ skipped" : "⏸️ not run";
  return `✅ ${c.pass}/${ran}`;
}

export function renderMatrix(m: Matrix): string {
  if (m.suites.length === 0) return "_No results._";
  const header = `| suite | ${m.boardTypes.join(" | ")} |\n|---|${m.boardTypes.map(() => "---").join("|")}|`;
  const rows = m.suites.map((s) => `| ${s} | ${m.boardTypes.map((b) => cellText(m.cells.get(`${s}|${b}`))).join(" | ")} |`);
  return `${header}\n${rows.join("\n")}`;
}

export function renderSummary(run: { id: string; status: string }, m: Matrix, url: string | undefined): string {
  const t = m.totals;
  const head = `**Run ${url ? `[${run.id}](${url})` : run.id}: ${run.status}**: ${t.pass} passed, ${t.fail} failed, ${t.error} infra errors, ${t.not_run} not run.`;
  const failures = m.results.filter((r) => r.status === "fail" || r.status === "error");
  const list =
    failures.length > 0
      ? `\n\n### Failures\n${failures
          .slice(0, 50)
          .map(
            (r) =>
              `- \`${r.suite}/${r.test}\` on ${r.boardType}: ${r.status}${r.message ? ` — ${r.message.split("\n")[0]!.slice(0, 200)}` : ""}`,
          )
          .join("\n")}`
      : "";
  // Check run summaries are limited to 65535 characters.
  return `${head}\n\n${renderMatrix(m)}${list}`.slice(0, 60_000);
}

type ReportRun = NonNullable<Awaited<ReturnType<typeof loadRun>>>;

async function loadRun(db: Db, runId: string) {
  return db.run.findUnique({ where: { id: runId }, include: { project: true, githubTrigger: true } });
}

async function reportToCommit(ctx: GithubContext, run: ReportRun, m: Matrix): Promise<void> {
  const client = ctx.client;
  const t = run.githubTrigger;
  if (!client || !t) return;
  const url = runUrl(ctx.env, run.id);
  const summary = renderSummary(run, m, url);
  if (client.mode === "app") {
    const conclusion = run.status === "passed" ? "success" : run.status === "cancelled" ? "cancelled" : "failure";
    const body = {
      name: checkName(run.project.name),
      head_sha: t.headSha,
      status: "completed" as const,
      conclusion,
      external_id: run.id,
      ...(url ? { details_url: url } : {}),
      output: { title: `${m.totals.pass} passed, ${m.totals.fail} failed`, summary },
    } as const;
    if (t.checkRunId !== null) await client.updateCheckRun(t.repository, Number(t.checkRunId), body);
    else {
      const id = await client.createCheckRun(t.repository, body);
      await ctx.db.githubTrigger.update({ where: { id: t.id }, data: { checkRunId: BigInt(id) } });
    }
  } else {
    await client.createStatus(t.repository, t.headSha, {
      state: run.status === "passed" ? "success" : run.status === "failed" ? "failure" : "error",
      context: checkName(run.project.name),
      description: `${run.status}: ${m.totals.pass} passed, ${m.totals.fail} failed, ${m.totals.error} infra errors`,
      ...(url ? { target_url: url } : {}),
    });
  }
}

/**
 * Tracking issues of a nightly run. Only `fail` is a regression: an infra `error` says nothing about the code, so
 * it neither opens nor closes an issue. A pass (flaky passes included) closes the open issue.
 */
async function trackRegressions(ctx: GithubContext, run: ReportRun, m: Matrix): Promise<void> {
  const client = ctx.client;
  const repo = run.project.issueRepository ?? run.project.repositories[0];
  if (!client || !repo || run.trigger !== "nightly") return;
  const url = runUrl(ctx.env, run.id);
  const runRef = `nightly run ${url ? `[${run.id}](${url})` : run.id}${run.ref ? ` (commit ${run.ref.slice(0, 12)})` : ""}`;
  for (const r of m.results) {
    if (r.status !== "fail" && r.status !== "pass") continue;
    const key = { projectId: run.projectId, suite: r.suite, test: r.test, boardType: r.boardType };
    const open = await ctx.db.trackingIssue.findFirst({ where: { ...key, state: "open" } });
    if (open?.lastRunId === run.id) continue; // this run was already reported on the issue
    const why = r.message ? `\n\n\`\`\`\n${r.message.slice(0, 2000)}\n\`\`\`` : "";
    if (r.status === "fail") {
      if (!open) {
        const number = await client.createIssue(repo, {
          title: `[HIL] ${r.suite}/${r.test} fails on ${r.boardType} (${run.project.name})`,
          body: `The hardware test \`${r.suite}/${r.test}\` started failing on ${r.boardType} in ${runRef}.${why}\n\nThis issue is updated by the HIL lab: it is commented on while the test keeps failing and closed when it passes again.`,
        });
        await ctx.db.trackingIssue.create({
          data: { ...key, repository: repo, issueNumber: number, openedRunId: run.id, lastRunId: run.id },
        });
        ctx.logger.info({ runId: run.id, repository: repo, issue: number, suite: r.suite, test: r.test }, "opened a tracking issue");
      } else {
        await client.commentIssue(open.repository, open.issueNumber, `Still failing in ${runRef}.${why}`);
        await ctx.db.trackingIssue.update({ where: { id: open.id }, data: { lastRunId: run.id, failures: { increment: 1 } } });
      }
    } else if (open) {
      await client.commentIssue(open.repository, open.issueNumber, `Passes again in ${runRef}. Closing.`);
      await client.closeIssue(open.repository, open.issueNumber);
      await ctx.db.trackingIssue.update({ where: { id: open.id }, data: { state: "closed", closedAt: new Date(), lastRunId: run.id } });
      ctx.logger.info({ runId: run.id, repository: open.repository, issue: open.issueNumber }, "closed a tracking issue");
    }
  }
}

/** Adds report rows for recently finished runs nobody created one for, when outgoing webhooks want every run. */
async function backfillReports(db: Db): Promise<void> {
  if ((await db.outgoingWebhook.count({ where: { active: true } })) === 0) return;
  const runs = await db.run.findMany({
    where: { status: { in: [...TERMINAL] }, finishedAt: { gte: new Date(Date.now() - BACKFILL_MS) }, report: { is: null } },
    select: { id: true },
    take: 500,
  });
  if (runs.length > 0) await db.runReport.createMany({ data: runs.map((r) => ({ runId: r.id })), skipDuplicates: true });
}

/** One reporter tick: reports every finished, unreported run (oldest first) and sends pending outgoing webhooks. */
export async function reportFinishedRuns(ctx: GithubContext): Promise<number> {
  const { db } = ctx;
  await backfillReports(db);
  const now = new Date();
  const due = await db.runReport.findMany({
    where: {
      reportedAt: null,
      attempts: { lt: MAX_REPORT_ATTEMPTS },
      OR: [{ claimedUntil: null }, { claimedUntil: { lt: now } }],
      run: { status: { in: [...TERMINAL] } },
    },
    include: { run: { select: { finishedAt: true } } },
    orderBy: { run: { finishedAt: "asc" } },
    take: 20,
  });
  let reported = 0;
  for (const report of due) {
    const claim = await db.runReport.updateMany({
      where: { runId: report.runId, reportedAt: null, OR: [{ claimedUntil: null }, { claimedUntil: { lt: new Date() } }] },
      data: { claimedUntil: new Date(Date.now() + CLAIM_MS) },
    });
    if (claim.count === 0) continue;
    try {
      const run = await loadRun(db, report.runId);
      if (!run) continue;
      const matrix = await buildMatrix(db, ctx.suites, run.id);
      await reportToCommit(ctx, run, matrix);
      await trackRegressions(ctx, run, matrix);
      await enqueueRunDeliveries(db, run.id, run.project.name);
      await db.runReport.update({ where: { runId: run.id }, data: { reportedAt: new Date(), claimedUntil: null, lastError: null } });
      reported += 1;
      ctx.logger.info({ runId: run.id, status: run.status }, "run reported");
    } catch (err) {
      ctx.logger.warn({ err, runId: report.runId, attempt: report.attempts + 1 }, "could not report the run; retrying later");
      await db.runReport.update({
        where: { runId: report.runId },
        data: { attempts: { increment: 1 }, lastError: (err as Error).message.slice(0, 2000), claimedUntil: null },
      });
    }
  }
  await sendPendingDeliveries(db, ctx.suites, ctx.env, ctx.logger);
  return reported;
}
