/**
 * Configuration of the API process, parsed once at start-up. No other file of the API reads `process.env`.
 * Every variable is listed in `.env.example` with the same explanation.
 */
import { existsSync } from "node:fs";
import { z } from "zod";

/** Only "true"/"1" are true and "false"/"0" false; anything else is an error (z.coerce.boolean treats "false" as true). */
const BoolEnv = z.enum(["true", "false", "1", "0"], { message: "must be true or false" }).transform((v) => v === "true" || v === "1");

/**
 * A duration in milliseconds, at most 2^31 - 1: the longest a Node timer waits (a longer one fires at once) and the
 * largest value the database's int columns hold.
 */
const MAX_MS = 2_147_483_647;
const Ms = (min: number, fallback: number) =>
  z.coerce.number().int().min(min).max(MAX_MS, `must be at most ${MAX_MS} ms (about 24.8 days)`).default(fallback);

export const Env = z.object({
  // Postgres holding every run, job, result and token. `npm start` provides an embedded one when unset.
  DATABASE_URL: z
    .string({ message: "DATABASE_URL is required (e.g. postgresql://postgres@127.0.0.1:5432/tock_hil)" })
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must start with postgresql://"),
  // Postgres connections this process may hold (leases, results and finishes each use one briefly).
  HIL_DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  // Connections of the runner protocol's hot path (scheduling passes, results, finishes), besides HIL_DB_POOL_SIZE.
  HIL_SQL_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(8),
  // Redis for BullMQ (work in motion only; nothing durable). `npm start` spawns a private redis-server when unset.
  REDIS_URL: z
    .string({ message: "REDIS_URL is required (e.g. redis://127.0.0.1:6379)" })
    .regex(/^rediss?:\/\//, "REDIS_URL must start with redis://"),
  // Listen address. Loopback by default so a fresh install is not exposed; use 0.0.0.0 in containers.
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  // Where uploaded firmware, the generated admin token and embedded services keep their files.
  HIL_DATA_DIR: z.string().default(".data"),
  // Bootstrap admin token. When unset, one is generated on first start and written to $HIL_DATA_DIR/admin-token.
  HIL_ADMIN_TOKEN: z.string().min(20, "HIL_ADMIN_TOKEN must be at least 20 characters").optional(),
  // When true, GET endpoints need no token (dashboards on a lab network); writes always need one.
  HIL_PUBLIC_READ: BoolEnv.default(true),
  // Prefix for every BullMQ key, so several installations (or test runs) can share one Redis.
  HIL_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]+$/)
    .default("hil"),
  // How often runners must heartbeat; the server tells runners this value when they connect.
  HIL_HEARTBEAT_INTERVAL_MS: Ms(100, 5_000),
  // A runner silent for this long loses its attempts (ended as `error`, reason runner_lost).
  HIL_RUNNER_TIMEOUT_MS: Ms(500, 30_000),
  // Largest firmware upload accepted, in bytes.
  HIL_MAX_ARTIFACT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  // Default number of attempts per job (an infra error retries the job on other boards while attempts remain).
  HIL_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(2),
  // Slack on top of a suite's own time bound before the API ends an attempt as `timeout` (covers fetching,
  // flashing and uploads; the runner enforces the per-step bounds itself).
  HIL_ATTEMPT_GRACE_MS: Ms(0, 60_000),
  // A job still waiting for boards after this long ends as error (reason queue_timeout).
  HIL_QUEUE_TIMEOUT_MS: Ms(1000, 6 * 3600_000),
  // Consecutive infra errors (or failed health checks) after which a board is marked bad.
  HIL_BOARD_BAD_AFTER: z.coerce.number().int().min(1).default(3),
  // Priority points a queued job gains per minute of waiting, so low-priority work is never starved forever.
  HIL_AGING_PER_MINUTE: z.coerce.number().min(0).default(1),
  // Width of a priority class in points. Jobs whose effective priority (priority plus aging) falls in one class
  // share the boards by fair share between projects; a higher class goes first. So aging lifts a waiting job past
  // newer jobs of its own priority once a class (50 minutes at the default rates), without letting a project's
  // flood that is a minute older outrank every other project's jobs.
  HIL_PRIORITY_STEP: z.coerce.number().int().min(1).max(1000).default(50),
  // Default priorities by trigger (higher first): people waiting at a desk, then pull requests, then the nightly.
  HIL_PRIORITY_MANUAL: z.coerce.number().int().min(0).max(1000).default(300),
  HIL_PRIORITY_PULL_REQUEST: z.coerce.number().int().min(0).max(1000).default(200),
  HIL_PRIORITY_PUSH: z.coerce.number().int().min(0).max(1000).default(150),
  HIL_PRIORITY_NIGHTLY: z.coerce.number().int().min(0).max(1000).default(100),
  // Per-step bounds the runner enforces (ms): fetching firmware, flashing one board, first output after reset,
  // and one test case (a test's own bound in its suite manifest wins).
  HIL_STEP_FETCH_MS: Ms(1, 120_000),
  HIL_STEP_FLASH_MS: Ms(1, 120_000),
  HIL_STEP_BOOT_MS: Ms(1, 10_000),
  HIL_STEP_TEST_MS: Ms(1, 300_000),
  // How often a live log tail (SSE) looks for new serial chunks, in ms. Chunks are polled from Postgres so a tail
  // works on any API process; lower is snappier, higher is cheaper with many open dashboards (issue 6).
  HIL_LOG_TAIL_POLL_MS: z.coerce.number().int().min(50).max(10_000).default(500),
  // pino level. Logs are JSON; pretty-printed only when stdout is a terminal.
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),

  // ---- GitHub (docs/github.md) ----
  // Secret of the repository/App webhook; POST /api/v1/github/webhook refuses every delivery while it is unset.
  GITHUB_WEBHOOK_SECRET: z
    .string()
    .min(16, "GITHUB_WEBHOOK_SECRET must be at least 16 characters (e.g. `openssl rand -hex 32`)")
    .optional(),
  // GitHub App id and its private key (.pem): reports results as Check Runs and opens tracking issues.
  GITHUB_APP_ID: z.coerce.number().int().positive().optional(),
  GITHUB_APP_PRIVATE_KEY_PATH: z.string().optional(),
  // Alternative to an App: a token (fine-grained: statuses, issues, contents read). Results become commit statuses.
  GITHUB_TOKEN: z.string().min(1).optional(),
  // REST API root; point it at GitHub Enterprise (https://ghe.example.com/api/v3) or a test server.
  GITHUB_API_URL: z
    .string()
    .url("GITHUB_API_URL must be a URL such as https://api.github.com")
    .default("https://api.github.com")
    .transform((u) => u.replace(/\/+$/, "")),
  // Public address of the dashboard, for links in check runs, statuses and issues (e.g. https://hil.example.org).
  HIL_PUBLIC_URL: z
    .string()
    .url("HIL_PUBLIC_URL must be a URL such as https://hil.example.org")
    .transform((u) => u.replace(/\/+$/, ""))
    .optional(),
  // Committed project configuration (JSON); its projects are created or updated at every start and cannot be edited over REST.
  HIL_PROJECTS_FILE: z.string().optional(),
  // A new push to a pull request (or closing it) cancels the runs still testing its older heads.
  HIL_GITHUB_CANCEL_SUPERSEDED: BoolEnv.default(true),
  // How often finished runs are reported to GitHub and outgoing webhooks (ms).
  HIL_REPORT_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  // How often runs still waiting for jobs whose expansion was lost (Redis) or failed for good (a long database
  // outage) are expanded again (ms).
  HIL_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1000).default(15_000),
});
export type Env = z.infer<typeof Env>;

/** Cross-field rules; each message names the variable to set or unset. */
const EnvChecked = Env.superRefine((env, ctx) => {
  if (env.GITHUB_APP_ID !== undefined && !env.GITHUB_APP_PRIVATE_KEY_PATH) {
    ctx.addIssue({
      code: "custom",
      path: ["GITHUB_APP_PRIVATE_KEY_PATH"],
      message: "GITHUB_APP_ID is set, so GITHUB_APP_PRIVATE_KEY_PATH must name the App's private key (.pem) too",
    });
  }
  if (env.GITHUB_APP_PRIVATE_KEY_PATH && env.GITHUB_APP_ID === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["GITHUB_APP_ID"],
      message: "GITHUB_APP_PRIVATE_KEY_PATH is set, so GITHUB_APP_ID must be set to the App's numeric id too",
    });
  }
  if (env.GITHUB_APP_PRIVATE_KEY_PATH && !existsSync(env.GITHUB_APP_PRIVATE_KEY_PATH)) {
    ctx.addIssue({
      code: "custom",
      path: ["GITHUB_APP_PRIVATE_KEY_PATH"],
      message: `no file at ${env.GITHUB_APP_PRIVATE_KEY_PATH}; download the App's private key from its GitHub settings page`,
    });
  }
  if (env.HIL_PROJECTS_FILE && !existsSync(env.HIL_PROJECTS_FILE)) {
    ctx.addIssue({
      code: "custom",
      path: ["HIL_PROJECTS_FILE"],
      message: `no file at ${env.HIL_PROJECTS_FILE}; point HIL_PROJECTS_FILE at the committed projects JSON, or unset it`,
    });
  }
});

/** Parses an environment, throwing one readable error that lists every problem. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  // An empty variable (e.g. `HIL_ADMIN_TOKEN=` copied from .env.example) means "not set".
  const result = EnvChecked.safeParse(Object.fromEntries(Object.entries(source).filter(([, v]) => v !== "")));
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}

/** Default priority of a run from its trigger. */
export function priorityFor(env: Env, trigger: "manual" | "api" | "nightly" | "push" | "pull_request"): number {
  switch (trigger) {
    case "manual":
    case "api":
      return env.HIL_PRIORITY_MANUAL;
    case "pull_request":
      return env.HIL_PRIORITY_PULL_REQUEST;
    case "push":
      return env.HIL_PRIORITY_PUSH;
    case "nightly":
      return env.HIL_PRIORITY_NIGHTLY;
  }
}
