/** Configuration of the runner process from the environment (the lab itself is described in lab.yaml). */
import { z } from "zod";

/** Upper bound of HIL_RUNNER_SHUTDOWN_GRACE_MS (one hour). */
export const MAX_SHUTDOWN_GRACE_MS = 3_600_000;

export const RunnerEnv = z.object({
  // pino level. Logs are JSON; pretty-printed only when stdout is a terminal.
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // On SIGTERM/SIGINT, how long the current attempt may run on before it is aborted and reported as runner_shutdown.
  // At most an hour: longer than any suite's bound is never useful, and a timer longer than ~24.8 days would fire
  // at once (the runner would abort the attempt and exit the moment it is asked to stop).
  HIL_RUNNER_SHUTDOWN_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(
      MAX_SHUTDOWN_GRACE_MS,
      `must be at most ${MAX_SHUTDOWN_GRACE_MS} ms (one hour); set it to the longest job you want finished on stop`,
    )
    .default(10_000),
  // How long one lease request waits on the API for work (long-poll).
  HIL_RUNNER_LEASE_WAIT_MS: z.coerce.number().int().min(0).max(30_000).default(10_000),
});
export type RunnerEnv = z.infer<typeof RunnerEnv>;

export function parseRunnerEnv(source: Record<string, string | undefined>): RunnerEnv {
  const result = RunnerEnv.safeParse(source);
  if (!result.success) {
    throw new Error(`Invalid configuration:\n${result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n")}`);
  }
  return result.data;
}
