/**
 * What each GitHub event does. A change (push, pull request head, merge group) becomes a trigger; a trigger
 * becomes a run once it may run (fork pull requests need a maintainer's label or `/hil run` comment) and its
 * firmware exists (projects with a firmware workflow wait for its workflow_run to complete).
 */
import { priorityFor } from "../env.ts";
import { AppError, ErrorCode } from "../errors.ts";
import { cancelRun } from "../services/cancel.ts";
import { insertRun, planRun } from "../services/runs.ts";
import { pathFiltersOf, projectsForRepository } from "../services/projects.ts";
import type { ProjectRow } from "../services/projects.ts";
import { checkName, runUrl } from "./context.ts";
import type { GithubContext } from "./context.ts";
import { selectSuites } from "./paths.ts";
import type { HandledEvent, IssueCommentEvent, MergeGroupEvent, PullRequestEvent, PushEvent, WorkflowRunEvent } from "./payloads.ts";
import {
  claimTriggerStart,
  createTrigger,
  ensureRunReport,
  findTriggers,
  firmwarePinsFor,
  hasFirmwareFor,
  setCheckRunId,
  setTriggerState,
  supersedeWaiting,
  unfinishedPullRequestRuns,
} from "./store.ts";
import type { TriggerRow } from "./store.ts";

/** What a delivery did: one line per project it concerned, and the runs it queued. */
export type Outcome = { messages: string[]; runIds: string[] };

const ZERO_SHA = /^0+$/;
const HIL_RUN = /^\/hil run\b/m;

type Change = {
  event: "push" | "pull_request" | "merge_group";
  repository: string;
  headSha: string;
  headRef: string | null;
  pullNumber: number | null;
  fork: boolean;
  /** A maintainer approved this very commit (label or comment), so a fork may run. */
  approved: boolean;
  files: string[] | null;
  installationId: number | undefined;
};

/** Tells GitHub where a trigger stands; best effort, as a failing GitHub must not lose the run. */
async function announce(ctx: GithubContext, t: TriggerRow, state: "waiting" | "queued" | "failed", text: string): Promise<void> {
  const client = ctx.client;
  if (!client) return;
  const details = t.runId ? runUrl(ctx.env, t.runId) : undefined;
  try {
    if (client.mode === "app") {
      const body = {
        name: checkName(t.project.name),
        head_sha: t.headSha,
        ...(state === "failed" ? { status: "completed" as const, conclusion: "failure" as const } : { status: "queued" as const }),
        ...(details ? { details_url: details } : {}),
        ...(t.runId ? { external_id: t.runId } : {}),
        output: { title: state === "waiting" ? "Waiting" : state === "queued" ? "Queued on the lab" : "Could not run", summary: text },
      };
      if (t.checkRunId !== null) await client.updateCheckRun(t.repository, Number(t.checkRunId), body);
      else await setCheckRunId(ctx.db, t.id, await client.createCheckRun(t.repository, body));
    } else {
      await client.createStatus(t.repository, t.headSha, {
        state: state === "failed" ? "error" : "pending",
        context: checkName(t.project.name),
        description: text,
        ...(details ? { target_url: details } : {}),
      });
    }
  } catch (err) {
    ctx.logger.warn({ err, trigger: t.id, repository: t.repository }, "could not report the trigger's state to GitHub");
  }
}

/** Plans and queues the trigger's run. Planning problems (e.g. firmware never uploaded) fail the trigger, visibly. */
export async function startTrigger(ctx: GithubContext, t: TriggerRow, out: Outcome): Promise<void> {
  const { db, env, suites } = ctx;
  const project = t.project;
  const pins = await firmwarePinsFor(db, suites, t.suites, t.headSha);
  let parameters;
  try {
    parameters = await planRun(db, suites, {
      suites: t.suites,
      ...(project.boards.length > 0 ? { boards: project.boards } : {}),
      ...(Object.keys(pins).length > 0 ? { firmware: pins } : {}),
      ref: t.headSha,
      project: project.name,
    });
  } catch (err) {
    if (!(err instanceof AppError) || err.statusCode >= 500) throw err;
    const failed = await setTriggerState(db, t.id, "failed", err.message);
    out.messages.push(`${project.name}: cannot run ${t.headSha.slice(0, 7)}: ${err.message}`);
    await announce(ctx, failed, "failed", err.message);
    return;
  }
  // Run triggers are push and pull_request; a merge group is a candidate commit of the branch (push), but it
  // blocks people's merges, so it gets the pull-request priority.
  const trigger = t.event === "pull_request" ? "pull_request" : "push";
  const alreadyStarted = new Error("already started");
  const run = await db
    .$transaction(async (tx) => {
      const row = await insertRun(tx, {
        project: project.name,
        trigger,
        ref: t.headSha,
        priority: priorityFor(env, t.event === "push" ? "push" : "pull_request"),
        parameters,
      });
      // Throwing rolls the run back when a concurrent delivery started this trigger first.
      if (!(await claimTriggerStart(tx, t.id, row.id))) throw alreadyStarted;
      await ensureRunReport(tx, row.id);
      return row;
    })
    .catch((err: unknown) => {
      if (err === alreadyStarted) return null;
      throw err;
    });
  if (!run) {
    out.messages.push(`${project.name}: ${t.headSha.slice(0, 7)} was already started`);
    return;
  }
  ctx.logger.info(
    { runId: run.id, project: project.name, repository: t.repository, sha: t.headSha, suites: t.suites },
    "GitHub run queued",
  );
  out.runIds.push(run.id);
  out.messages.push(`${project.name}: run ${run.id} queued (${t.suites.join(", ")})`);
  await ctx.orchestrator.enqueue("hil.run.expand", { runId: run.id }, { jobId: `expand-${run.id}` }).catch((err: unknown) => {
    ctx.logger.warn({ err, runId: run.id }, "could not enqueue run expansion; reconciliation will expand it");
  });
  await announce(ctx, { ...t, runId: run.id }, "queued", `Run ${run.id} of ${t.suites.join(", ")} is queued.`);
}

/** Moves an approved trigger on: to waiting for firmware, or straight to a run. */
async function proceed(ctx: GithubContext, t: TriggerRow, out: Outcome): Promise<void> {
  const workflow = t.project.firmwareWorkflow;
  if (workflow && !(await hasFirmwareFor(ctx.db, t.headSha))) {
    const waiting = await setTriggerState(ctx.db, t.id, "waiting_firmware", `waiting for the ${workflow} workflow`);
    out.messages.push(`${t.project.name}: waiting for firmware from workflow ${workflow}`);
    await announce(ctx, waiting, "waiting", `Waiting for the ${workflow} workflow to build and upload the firmware.`);
    return;
  }
  await startTrigger(ctx, t, out);
}

async function triggerChange(ctx: GithubContext, project: ProjectRow, change: Change, out: Outcome): Promise<void> {
  const defaults = project.suites.length > 0 ? project.suites : [...ctx.suites.keys()];
  const suites = selectSuites({ defaults, filters: pathFiltersOf(project), files: change.files });
  if (suites.length === 0) {
    out.messages.push(`${project.name}: skipped: no path filter matches the ${change.files?.length ?? 0} changed file(s)`);
    return;
  }
  const mustWait = change.fork && !change.approved;
  const t = await createTrigger(ctx.db, {
    projectId: project.id,
    repository: change.repository,
    event: change.event,
    headSha: change.headSha,
    headRef: change.headRef,
    pullNumber: change.pullNumber,
    fork: change.fork,
    suites,
    state: mustWait ? "waiting_approval" : "waiting_firmware",
    installationId: change.installationId !== undefined ? BigInt(change.installationId) : null,
    message: mustWait ? "waiting for a maintainer" : null,
  });
  if (mustWait) {
    const how = `a maintainer adds the label \`${project.approvalLabel}\` or comments \`/hil run\``;
    out.messages.push(`${project.name}: pull request #${change.pullNumber} from a fork waits for approval (${how})`);
    await announce(ctx, t, "waiting", `This pull request comes from a fork. It runs on the lab once ${how}.`);
    return;
  }
  await proceed(ctx, t, out);
}

async function pushFiles(ctx: GithubContext, e: PushEvent): Promise<string[] | null> {
  if (e.commits.length > 0) return [...new Set(e.commits.flatMap((c) => [...c.added, ...c.removed, ...c.modified]))];
  if (!ctx.client || ZERO_SHA.test(e.before)) return null;
  return ctx.client.changedFiles(e.repository.full_name, e.before, e.after).catch((err: unknown) => {
    ctx.logger.warn({ err, repository: e.repository.full_name }, "could not list the push's files; running the default suites");
    return null;
  });
}

async function onPush(ctx: GithubContext, e: PushEvent, out: Outcome): Promise<void> {
  if (e.deleted) return void out.messages.push("ignored: the branch was deleted");
  if (!e.ref.startsWith("refs/heads/")) return void out.messages.push(`ignored: ${e.ref} is not a branch`);
  const branch = e.ref.slice("refs/heads/".length);
  const repo = e.repository.full_name;
  const projects = await projectsForRepository(ctx.db, repo);
  if (projects.length === 0) return void out.messages.push(`ignored: no project lists ${repo}`);
  let files: string[] | null | undefined;
  for (const p of projects) {
    // Only the branches that matter: other branches are tested through their pull requests, and merge queue
    // branches through merge_group.
    if (branch !== (e.repository.default_branch ?? "main") && branch !== p.nightlyBranch) {
      out.messages.push(`${p.name}: ignored: ${branch} is neither the default nor the nightly branch`);
      continue;
    }
    files ??= await pushFiles(ctx, e);
    const change: Change = {
      event: "push",
      repository: repo,
      headSha: e.after,
      headRef: branch,
      pullNumber: null,
      fork: false,
      approved: true,
      files,
      installationId: e.installation?.id,
    };
    await triggerChange(ctx, p, change, out);
  }
}

async function prFiles(ctx: GithubContext, repo: string, base: string, head: string): Promise<string[] | null> {
  if (!ctx.client) return null;
  return ctx.client.changedFiles(repo, base, head).catch((err: unknown) => {
    ctx.logger.warn({ err, repository: repo }, "could not list the pull request's files; running the default suites");
    return null;
  });
}

/**
 * Cancels the runs still testing a pull request's older heads (or every head, once it is closed unmerged): their
 * results would describe commits nobody will merge, and the boards are better spent on the new head. Only runs
 * of triggers created before GitHub's change to the pull request (`updated_at`) are touched, so a late or
 * redelivered event cannot cancel the run of a newer head. A run that ends by itself in between is left alone, and
 * a cancel that fails is logged rather than failing the delivery (the new head must still get its run).
 */
async function cancelSupersededRuns(ctx: GithubContext, e: PullRequestEvent, out: Outcome): Promise<void> {
  if (!ctx.env.HIL_GITHUB_CANCEL_SUPERSEDED) return;
  const pr = e.pull_request;
  if (e.action === "closed" && pr.merged) return; // the merged head's results still matter
  const repo = e.repository.full_name;
  const keep = e.action === "closed" ? null : pr.head.sha;
  const why = keep ? `superseded by ${keep.slice(0, 7)}` : "closed";
  const changedAt = pr.updated_at ? new Date(pr.updated_at) : new Date();
  const before = Number.isNaN(changedAt.getTime()) ? new Date() : changedAt;
  // Two clocks meet here (GitHub's updated_at, our trigger times) and updated_at has whole seconds, so a second
  // push within a second or two of the first might not look newer: the head a push names as replaced (`before`)
  // is cancelled regardless.
  const replaced = e.action === "synchronize" ? e.before : undefined;
  for (const runId of await unfinishedPullRequestRuns(ctx.db, repo, e.number, { keepSha: keep, before, replaced })) {
    try {
      await cancelRun(ctx.db, runId, `GitHub: pull request #${e.number} ${why}`);
      ctx.wake();
      ctx.logger.info({ repository: repo, pr: e.number, runId }, `run of an older head cancelled: pull request ${why}`);
      out.messages.push(`run ${runId} cancelled: pull request ${why}`);
    } catch (err) {
      if (err instanceof AppError && err.code === ErrorCode.CONFLICT) continue; // it ended meanwhile
      ctx.logger.warn({ err, repository: repo, pr: e.number, runId }, "could not cancel the run of an older head");
    }
  }
}

async function onPullRequest(ctx: GithubContext, e: PullRequestEvent, out: Outcome): Promise<void> {
  const repo = e.repository.full_name;
  const pr = e.pull_request;
  const fork = pr.head.repo?.full_name.toLowerCase() !== pr.base.repo.full_name.toLowerCase();
  if (e.action === "closed") {
    const n = await supersedeWaiting(ctx.db, repo, e.number);
    out.messages.push(`pull request closed; ${n} waiting trigger(s) dropped`);
    return cancelSupersededRuns(ctx, e, out);
  }
  if (!["opened", "synchronize", "reopened", "labeled"].includes(e.action)) {
    return void out.messages.push(`ignored: pull_request action ${e.action}`);
  }
  const projects = await projectsForRepository(ctx.db, repo);
  if (projects.length === 0) return void out.messages.push(`ignored: no project lists ${repo}`);
  if (e.action !== "labeled") await supersedeWaiting(ctx.db, repo, e.number);
  if (e.action === "synchronize") await cancelSupersededRuns(ctx, e, out);
  let files: string[] | null | undefined;
  for (const p of projects) {
    const existing = await findTriggers(ctx.db, { repository: repo, pullNumber: e.number, headSha: pr.head.sha, projectIds: [p.id] });
    if (e.action === "labeled") {
      if (e.label?.name !== p.approvalLabel) {
        out.messages.push(`${p.name}: ignored: label ${e.label?.name ?? "?"} is not ${p.approvalLabel}`);
        continue;
      }
      if (!fork) {
        out.messages.push(`${p.name}: ignored: pull requests from ${repo} itself run without approval`);
        continue;
      }
      const waiting = existing.find((t) => t.state === "waiting_approval");
      if (waiting) {
        ctx.logger.info({ repository: repo, pr: e.number, by: e.sender.login }, "fork pull request approved by label");
        await proceed(ctx, waiting, out);
        continue;
      }
      if (existing.some((t) => t.state === "started" || t.state === "waiting_firmware")) {
        out.messages.push(`${p.name}: ${pr.head.sha.slice(0, 7)} is already approved`);
        continue;
      }
    } else if (existing.some((t) => t.state === "started")) {
      out.messages.push(`${p.name}: ${pr.head.sha.slice(0, 7)} already ran`);
      continue;
    }
    files ??= await prFiles(ctx, repo, pr.base.sha, pr.head.sha);
    const change: Change = {
      event: "pull_request",
      repository: repo,
      headSha: pr.head.sha,
      headRef: pr.head.ref,
      pullNumber: e.number,
      fork,
      // Approval is per commit: a labeled event approves the head it names; a new push needs a new approval.
      approved: e.action === "labeled",
      files,
      installationId: e.installation?.id,
    };
    await triggerChange(ctx, p, change, out);
  }
}

async function onMergeGroup(ctx: GithubContext, e: MergeGroupEvent, out: Outcome): Promise<void> {
  if (e.action !== "checks_requested") return void out.messages.push(`ignored: merge_group action ${e.action}`);
  const repo = e.repository.full_name;
  const projects = await projectsForRepository(ctx.db, repo);
  if (projects.length === 0) return void out.messages.push(`ignored: no project lists ${repo}`);
  const files = await prFiles(ctx, repo, e.merge_group.base_sha, e.merge_group.head_sha);
  for (const p of projects) {
    const change: Change = {
      event: "merge_group",
      repository: repo,
      headSha: e.merge_group.head_sha,
      headRef: e.merge_group.head_ref,
      pullNumber: null,
      fork: false,
      approved: true,
      files,
      installationId: e.installation?.id,
    };
    await triggerChange(ctx, p, change, out);
  }
}

async function mayApprove(ctx: GithubContext, e: IssueCommentEvent): Promise<boolean> {
  const repo = e.repository.full_name;
  if (ctx.client) return ctx.client.canApprove(repo, e.comment.user.login);
  // Without API access, GitHub's own classification of the author is the best evidence available.
  return ["OWNER", "MEMBER", "COLLABORATOR"].includes(e.comment.author_association ?? "");
}

async function onIssueComment(ctx: GithubContext, e: IssueCommentEvent, out: Outcome): Promise<void> {
  if (e.action !== "created" || !e.issue.pull_request || !HIL_RUN.test(e.comment.body)) {
    return void out.messages.push("ignored: not a /hil run comment on a pull request");
  }
  const repo = e.repository.full_name;
  const projects = await projectsForRepository(ctx.db, repo);
  if (projects.length === 0) return void out.messages.push(`ignored: no project lists ${repo}`);
  if (!(await mayApprove(ctx, e))) {
    ctx.logger.warn({ repository: repo, pr: e.issue.number, user: e.comment.user.login }, "/hil run from a user without write access");
    return void out.messages.push(`ignored: ${e.comment.user.login} has no write access to ${repo}`);
  }
  for (const p of projects) {
    const waiting = await findTriggers(ctx.db, {
      repository: repo,
      pullNumber: e.issue.number,
      states: ["waiting_approval"],
      projectIds: [p.id],
    });
    const newest = waiting[0];
    if (newest) {
      ctx.logger.info({ repository: repo, pr: e.issue.number, by: e.comment.user.login }, "pull request approved by /hil run");
      await proceed(ctx, newest, out);
      continue;
    }
    if (!ctx.client) {
      out.messages.push(`${p.name}: nothing waits for approval on #${e.issue.number}`);
      continue;
    }
    // Nothing waiting: a maintainer asks for a (re-)run of the pull request's current head.
    const pr = await ctx.client.pullRequest(repo, e.issue.number);
    const change: Change = {
      event: "pull_request",
      repository: repo,
      headSha: pr.head.sha,
      headRef: pr.head.ref,
      pullNumber: e.issue.number,
      fork: pr.head.repo?.full_name.toLowerCase() !== pr.base.repo.full_name.toLowerCase(),
      approved: true,
      files: await prFiles(ctx, repo, pr.base.sha, pr.head.sha),
      installationId: e.installation?.id,
    };
    await triggerChange(ctx, p, change, out);
  }
}

async function onWorkflowRun(ctx: GithubContext, e: WorkflowRunEvent, out: Outcome): Promise<void> {
  if (e.action !== "completed") return void out.messages.push(`ignored: workflow_run action ${e.action}`);
  const repo = e.repository.full_name;
  const wf = e.workflow_run;
  const projects = (await projectsForRepository(ctx.db, repo)).filter((p) => p.firmwareWorkflow === wf.name);
  if (projects.length === 0) return void out.messages.push(`ignored: no project of ${repo} waits for workflow ${wf.name}`);
  const waiting = await findTriggers(ctx.db, {
    repository: repo,
    headSha: wf.head_sha,
    states: ["waiting_firmware"],
    projectIds: projects.map((p) => p.id),
  });
  if (waiting.length === 0) return void out.messages.push(`nothing waits for firmware of ${wf.head_sha.slice(0, 7)}`);
  for (const t of waiting) {
    if (wf.conclusion !== "success") {
      const message = `the ${wf.name} workflow (run ${wf.id}) concluded ${wf.conclusion ?? "without a conclusion"}, so there is no firmware to test`;
      const failed = await setTriggerState(ctx.db, t.id, "failed", message);
      out.messages.push(`${t.project.name}: ${message}`);
      await announce(ctx, failed, "failed", message);
      continue;
    }
    await startTrigger(ctx, t, out);
  }
}

/** Dispatches a verified, parsed delivery. */
export async function handleEvent(ctx: GithubContext, event: HandledEvent, payload: unknown): Promise<Outcome> {
  const out: Outcome = { messages: [], runIds: [] };
  const repo = (payload as { repository?: { full_name?: string } }).repository?.full_name;
  const installation = (payload as { installation?: { id?: number } }).installation?.id;
  if (repo) ctx.client?.rememberInstallation(repo, installation);
  switch (event) {
    case "ping":
      out.messages.push("pong");
      break;
    case "push":
      await onPush(ctx, payload as PushEvent, out);
      break;
    case "pull_request":
      await onPullRequest(ctx, payload as PullRequestEvent, out);
      break;
    case "merge_group":
      await onMergeGroup(ctx, payload as MergeGroupEvent, out);
      break;
    case "issue_comment":
      await onIssueComment(ctx, payload as IssueCommentEvent, out);
      break;
    case "workflow_run":
      await onWorkflowRun(ctx, payload as WorkflowRunEvent, out);
      break;
  }
  return out;
}
