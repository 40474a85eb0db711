/**
 * Configuration of `npm start` (the one-machine launcher). It passes the API its own variables (see ../env.ts);
 * these are the launcher's additions. Everything has a default so a fresh clone starts with no configuration.
 */
import { z } from "zod";

const BoolEnv = z.enum(["true", "false", "1", "0"], { message: "must be true or false" }).transform((v) => v === "true" || v === "1");

export const LauncherEnv = z.object({
  // Use this Postgres instead of starting an embedded one under $HIL_DATA_DIR/postgres.
  DATABASE_URL: z.string().optional(),
  // Use this Redis instead of spawning a private redis-server.
  REDIS_URL: z.string().optional(),
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  HIL_DATA_DIR: z.string().default(".data"),
  // Admin token to use; when unset, the one in $HIL_DATA_DIR/admin-token is reused, or a new one is created there.
  HIL_ADMIN_TOKEN: z.string().optional(),
  // Number of emulated nRF52840DK boards in the local emulated lab, in one RF group like Tock's 4-board cluster.
  HIL_EMULATED_BOARDS: z.coerce.number().int().min(1).max(32).default(4),
  // Queue a run of every suite once everything is up.
  HIL_START_RUN: BoolEnv.default(true),
  LOG_LEVEL: z.string().default("info"),
});
export type LauncherEnv = z.infer<typeof LauncherEnv>;
