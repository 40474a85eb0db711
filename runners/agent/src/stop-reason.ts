/**
 * Why the runner stopped an attempt early. The reason travels as the abort reason of the attempt's signal, so every
 * layer that sees the abort (a flash tool being killed, a test being stopped, the final report) can say what
 * happened instead of calling everything "cancelled".
 */

export type StopKind =
  /** The API no longer runs the attempt: cancelled, ended by its timeout sweep, or given up as runner_lost. */
  | "ended_by_api"
  /** The job's own bound (the lease's timeoutMs) ran out on the runner. */
  | "timeout"
  /** The runner is shutting down (grace period over, or a second signal). */
  | "runner_shutdown";

export class AttemptStop extends Error {
  readonly kind: StopKind;
  constructor(kind: StopKind, message: string) {
    super(message);
    this.name = "AttemptStop";
    this.kind = kind;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** The stop behind an abort reason; plain strings (`"cancelled"`, `"timeout"`, `"runner_shutdown"`) are accepted too. */
export function stopOf(reason: unknown): AttemptStop {
  if (reason instanceof AttemptStop) return reason;
  if (reason === "runner_shutdown") return new AttemptStop("runner_shutdown", "the runner shut down during the attempt");
  if (reason === "timeout") return new AttemptStop("timeout", "the suite did not finish within its time bound");
  return new AttemptStop("ended_by_api", "the attempt was cancelled");
}
