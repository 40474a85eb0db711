/**
 * Nightly runs. Each project with a schedule has a BullMQ job scheduler (`nightly:<project>`, cron pattern + time
 * zone). A firing asks GitHub for the branch head and skips the night when the branch has not moved since the last
 * nightly (unless forced). At start-up, a night missed while the service was down is caught up once.
 */
import { CronExpressionParser } from "cron-parser";
import { priorityFor } from "../env.ts";
import { AppError } from "../errors.ts";
import type { GithubContext } from "../github/context.ts";
import { ensureRunReport, firmwarePinsFor } from "../github/store.ts";
import { insertRun, planRun } from "./runs.ts";

export const nightlySchedulerId = (project: string) => `nightly:${project}`;

/** Missed nights older than this are not caught up: a stale nightly helps nobody. */
const CATCH_UP_WINDOW_MS = 24 * 3600_000;

export type NightlyResult =
  { status: "queued"; runId: string; sha: string | null } | { status: "skipped"; reason: string } | { status: "failed"; reason: string };

/** Makes the job schedulers match the projects: one per project with a schedule, none for the others. */
export async function syncNightlySchedules(ctx: GithubContext): Promise<void> {
  const projects = await ctx.db.project.findMany({ where: { nightlyCron: { not: null } } });
  const wanted = new Set<string>();
  for (const p of projects) {
    const id = nightlySchedulerId(p.name);
    wanted.add(id);
    await ctx.orchestrator.upsertScheduler(id, { pattern: p.nightlyCron!, tz: p.nightlyTimezone }, "hil.nightly.fire", {
      project: p.name,
      force: false,
    });
  }
  for (const id of await ctx.orchestrator.schedulerIds()) {
    if (id.startsWith("nightly:") && !wanted.has(id)) await ctx.orchestrator.removeScheduler(id);
  }
}

/**
 * Fires the nights missed while nothing was running (or while Redis lost its scheduled jobs). The fire itself
 * skips an unmoved branch, so a night the scheduler did fire costs one GitHub request, never a second run.
 */
export async function catchUpNightlies(ctx: GithubContext, now = new Date()): Promise<string[]> {
  const fired: string[] = [];
  const projects = await ctx.db.project.findMany({ where: { nightlyCron: { not: null } } });
  for (const p of projects) {
    const prev = CronExpressionParser.parse(p.nightlyCron!, { tz: p.nightlyTimezone, currentDate: now }).prev().toDate();
    const missed =
      now.getTime() - prev.getTime() < CATCH_UP_WINDOW_MS && p.createdAt < prev && (!p.lastNightlyAt || p.lastNightlyAt < prev);
    if (!missed) continue;
    await ctx.orchestrator.enqueue(
      "hil.nightly.fire",
      { project: p.name, force: false },
      { jobId: `nightly-catch-up-${p.id}-${prev.getTime()}` },
    );
    fired.push(p.name);
  }
  if (fired.length > 0) ctx.logger.info({ projects: fired }, "catching up nightly runs missed during downtime");
  return fired;
}

export async function fireNightly(ctx: GithubContext, projectName: string, force: boolean): Promise<NightlyResult> {
  const { db, env } = ctx;
  const p = await db.project.findUnique({ where: { name: projectName } });
  if (!p) return { status: "skipped", reason: `project ${projectName} no longer exists` };
  if (!p.nightlyCron && !force) return { status: "skipped", reason: `project ${projectName} has no nightly schedule` };
  const repo = p.repositories[0];
  // Without GitHub access the head is unknown: the night runs the branch by name, every time.
  const head = ctx.client && repo ? await ctx.client.branchHead(repo, p.nightlyBranch) : null;
  const now = new Date();
  if (head && head === p.lastNightlySha && !force) {
    await db.project.update({ where: { id: p.id }, data: { lastNightlyAt: now } });
    return { status: "skipped", reason: `${p.nightlyBranch} has not moved since the last nightly (${head.slice(0, 12)})` };
  }
  // Optimistic claim on the previous firing: of two concurrent firings (scheduler and catch-up), one runs.
  const claim = await db.project.updateMany({
    where: { id: p.id, lastNightlyAt: p.lastNightlyAt, lastNightlySha: p.lastNightlySha },
    data: { lastNightlyAt: now, lastNightlySha: head ?? p.lastNightlySha },
  });
  if (claim.count === 0) return { status: "skipped", reason: "another nightly of this project fired at the same time" };
  const suites = p.suites.length > 0 ? p.suites : [...ctx.suites.keys()];
  try {
    const pins = head ? await firmwarePinsFor(db, ctx.suites, suites, head) : {};
    const parameters = await planRun(db, ctx.suites, {
      suites,
      ...(p.boards.length > 0 ? { boards: p.boards } : {}),
      ...(Object.keys(pins).length > 0 ? { firmware: pins } : {}),
      ref: head ?? p.nightlyBranch,
      project: p.name,
    });
    const run = await db.$transaction(async (tx) => {
      const row = await insertRun(tx, {
        project: p.name,
        trigger: "nightly",
        ref: head ?? p.nightlyBranch,
        priority: priorityFor(env, "nightly"),
        parameters,
      });
      await ensureRunReport(tx, row.id);
      return row;
    });
    await ctx.orchestrator.enqueue("hil.run.expand", { runId: run.id }, { jobId: `expand-${run.id}` }).catch((err: unknown) => {
      ctx.logger.warn({ err, runId: run.id }, "could not enqueue run expansion; reconciliation will expand it");
    });
    return { status: "queued", runId: run.id, sha: head };
  } catch (err) {
    // Nothing ran: forget this head so the next firing tries again.
    await db.project.update({ where: { id: p.id }, data: { lastNightlySha: p.lastNightlySha } });
    if (err instanceof AppError && err.statusCode < 500) return { status: "failed", reason: err.message };
    throw err;
  }
}
