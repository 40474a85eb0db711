/**
 * Configuration of the API process, parsed once at start-up. No other file of the API reads `process.env`.
 * Every variable is listed in `.env.example` with the same explanation.
 */
import { z } from "zod";

/** Only "true"/"1" are true and "false"/"0" false; anything else is an error (z.coerce.boolean treats "false" as true). */
const BoolEnv = z.enum(["true", "false", "1", "0"], { message: "must be true or false" }).transform((v) => v === "true" || v === "1");

export const Env = z.object({
  // Postgres holding every run, job, result and token. `npm start` provides an embedded one when unset.
  DATABASE_URL: z
    .string({ message: "DATABASE_URL is required (e.g. postgresql://postgres@127.0.0.1:5432/tock_hil)" })
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must start with postgresql://"),
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
  HIL_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  // A runner silent for this long loses its attempts (ended as `error`, reason runner_lost).
  HIL_RUNNER_TIMEOUT_MS: z.coerce.number().int().min(500).default(30_000),
  // Largest firmware upload accepted, in bytes.
  HIL_MAX_ARTIFACT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  // Default number of attempts per job (an infra error retries the job on other boards while attempts remain).
  HIL_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(2),
  // pino level. Logs are JSON; pretty-printed only when stdout is a terminal.
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});
export type Env = z.infer<typeof Env>;

/** Parses an environment, throwing one readable error that lists every problem. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  // An empty variable (e.g. `HIL_ADMIN_TOKEN=` copied from .env.example) means "not set".
  const result = Env.safeParse(Object.fromEntries(Object.entries(source).filter(([, v]) => v !== "")));
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}
