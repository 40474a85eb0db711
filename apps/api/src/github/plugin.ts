/**
 * Wires the GitHub integration into the app: builds the GitHub client from the environment, loads the committed
 * projects file, installs the nightly and report job handlers into the orchestrator and keeps the nightly job
 * schedulers in line with the projects. Decorates `fastify.github` for the routes.
 */
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Logger } from "pino";
import { catchUpNightlies, fireNightly, syncNightlySchedules } from "../services/nightly.ts";
import { loadProjectsFile } from "../services/projects.ts";
import { createGithubClient } from "./client.ts";
import type { GithubContext } from "./context.ts";
import { reportFinishedRuns } from "./report.ts";

declare module "fastify" {
  interface FastifyInstance {
    github: GithubContext & { syncSchedules(): Promise<void> };
  }
}

export const githubPlugin = fp(
  async (fastify: FastifyInstance) => {
    const { env, prisma, orchestrator, suites, workSignal } = fastify.deps;
    const logger = fastify.log.child({ component: "github" }) as unknown as Logger;
    const ctx: GithubContext = {
      db: prisma,
      env,
      suites,
      client: createGithubClient(env, logger),
      orchestrator,
      logger,
      wake: () => workSignal.notify(),
    };
    fastify.decorate("github", { ...ctx, syncSchedules: () => syncNightlySchedules(ctx) });

    if (env.HIL_PROJECTS_FILE) {
      const names = await loadProjectsFile(prisma, suites, env.HIL_PROJECTS_FILE);
      logger.info({ file: env.HIL_PROJECTS_FILE, projects: names }, "projects loaded from HIL_PROJECTS_FILE");
    }
    if (!ctx.client) logger.info("no GITHUB_APP_ID or GITHUB_TOKEN: webhooks start runs, but nothing is reported to GitHub");
    if (!env.GITHUB_WEBHOOK_SECRET) logger.info("GITHUB_WEBHOOK_SECRET is not set: the GitHub webhook endpoint refuses deliveries");

    orchestrator.use({
      "hil.nightly.fire": async ({ project, force }) => {
        const result = await fireNightly(ctx, project, force);
        if (result.status === "failed") logger.error({ project, reason: result.reason }, "nightly run could not be planned");
        else logger.info({ project, ...result }, result.status === "queued" ? "nightly run queued" : "nightly run skipped");
      },
      "hil.runs.report": async () => {
        await reportFinishedRuns(ctx);
      },
    });
    await syncNightlySchedules(ctx);
    await catchUpNightlies(ctx);
    // A Redis that came back empty lost the nightly firings due while it was away; the catch-up fires those once.
    orchestrator.onReconnected(() => catchUpNightlies(ctx));
    await orchestrator.upsertScheduler("hil.runs.report", { every: env.HIL_REPORT_INTERVAL_MS }, "hil.runs.report", {});
  },
  { name: "github" },
);
