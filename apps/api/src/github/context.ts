/** What the GitHub integration's event handlers, reporter and nightly scheduler need, built once per app. */
import type { Logger } from "pino";
import type { PrismaClient } from "../db.ts";
import type { Env } from "../env.ts";
import type { Orchestrator } from "../jobs/orchestrator.ts";
import type { SuiteCatalog } from "../suites.ts";
import type { GithubClient } from "./client.ts";

export type GithubContext = {
  db: PrismaClient;
  env: Env;
  suites: SuiteCatalog;
  /** Null when neither an App nor a token is configured: events still start runs, nothing is reported back. */
  client: GithubClient | null;
  orchestrator: Orchestrator;
  logger: Logger;
  /** Wakes waiting lease requests: boards were freed (a cancelled run) or work was added. */
  wake: () => void;
};

/** Name of the check run / status context of a project, stable so GitHub can require it in branch protection. */
export const checkName = (project: string) => `tock-hil / ${project}`;

export const runUrl = (env: Env, runId: string): string | undefined =>
  env.HIL_PUBLIC_URL ? `${env.HIL_PUBLIC_URL}/runs/${runId}` : undefined;
