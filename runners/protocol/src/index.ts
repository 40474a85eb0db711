/**
 * Everything that crosses the wire between the API, its clients and the runners, defined once as zod schemas.
 * Each type has the same name as its schema. The API validates requests with these in its route schemas and the
 * runner validates responses with them, so both sides fail loudly on a mismatch.
 */
import { z } from "zod";

// ---------------------------------------------------------------------------------------------------------------
// Shared enums
// ---------------------------------------------------------------------------------------------------------------

export const RunStatus = z.enum(["queued", "running", "passed", "failed", "error", "cancelled"]);
export type RunStatus = z.infer<typeof RunStatus>;

export const JobStatus = z.enum(["queued", "running", "passed", "failed", "error", "cancelled"]);
export type JobStatus = z.infer<typeof JobStatus>;

/** `completed` means the suite ran to its end (its tests may still have failed); `error` is an infra failure. */
export const AttemptStatus = z.enum(["running", "completed", "error", "cancelled"]);
export type AttemptStatus = z.infer<typeof AttemptStatus>;

export const TestStatus = z.enum(["pass", "fail", "error", "skip", "not_run"]);
export type TestStatus = z.infer<typeof TestStatus>;

export const RunTrigger = z.enum(["manual", "api", "nightly", "push", "pull_request"]);
export type RunTrigger = z.infer<typeof RunTrigger>;

export const BoardState = z.enum(["idle", "busy", "offline"]);
export type BoardState = z.infer<typeof BoardState>;

export const BoardHealth = z.enum(["good", "unknown", "bad", "maintenance", "retired"]);
export type BoardHealth = z.infer<typeof BoardHealth>;

export const FirmwareKind = z.enum(["kernel", "tbf", "tab"]);
export type FirmwareKind = z.infer<typeof FirmwareKind>;

export const ApiScope = z.enum(["admin", "trigger", "read"]);
export type ApiScope = z.infer<typeof ApiScope>;

const Sha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/, "must be a lowercase hex SHA-256 digest (64 characters)")
  .describe("SHA-256 of the bytes, lowercase hex");

const Name = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "may contain only letters, digits, '.', '_' and '-'");

// ---------------------------------------------------------------------------------------------------------------
// Faults and run parameters
// ---------------------------------------------------------------------------------------------------------------

/**
 * Named faults an emulated lab can inject (real labs apply what they can). Every fault is documented here, in the
 * OpenAPI document and in docs/faults.md. Unknown keys are rejected so a typo never silently does nothing.
 */
export const Faults = z
  .object({
    // --- 802.15.4 medium (issue 2/3) ---
    loss: z.number().min(0).max(1).optional().describe("Probability (0..1) that an 802.15.4 frame is lost at each receiver"),
    corruption: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("Probability (0..1) that a received 802.15.4 frame has a bit flipped (dropped by the FCS check)"),
    // --- radios, OpenThread, board faults (issue 3) ---
    // --- networks and kernels: Ethernet, WiFi, IPC (issue 4) ---
  })
  .strict();
export type Faults = z.infer<typeof Faults>;

/** Faults of a run: applied to every job, with per-suite overrides merged on top (`suites.<name>`). */
export const RunFaults = Faults.extend({
  suites: z.record(z.string(), Faults).optional().describe("Per-suite faults, merged over the run-wide ones for that suite's jobs"),
}).strict();
export type RunFaults = z.infer<typeof RunFaults>;

export const CreateRunBody = z
  .object({
    suites: z.array(Name).min(1).optional().describe("Suites to run; default: every suite the project enables"),
    boards: z.array(Name).min(1).optional().describe("Board types to run on; default: every type the suites need"),
    ref: z.string().min(1).max(200).optional().describe("Git ref or commit under test"),
    faults: RunFaults.optional(),
    seed: z.number().int().min(0).max(0xffffffff).optional().describe("Seed for emulated labs; random when omitted"),
    firmware: z
      .record(Name, Sha256)
      .optional()
      .describe("Firmware to flash, by logical name (e.g. radio_rx) -> artifact sha256; default: newest upload"),
    project: Name.optional().describe("Project name; default: the `default` project"),
  })
  .strict();
export type CreateRunBody = z.infer<typeof CreateRunBody>;

export const Run = z.object({
  id: z.string(),
  project: z.string(),
  status: RunStatus,
  trigger: RunTrigger,
  ref: z.string().nullable(),
  suites: z.array(z.string()),
  boards: z.array(z.string()),
  faults: RunFaults.nullable(),
  seed: z.number(),
  message: z.string().nullable().describe("Why the run ended as it did, when not obvious from its results"),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  jobs: z.array(
    z.object({
      id: z.string(),
      suite: z.string(),
      status: JobStatus,
      attempts: z.array(
        z.object({
          id: z.string(),
          number: z.number(),
          status: AttemptStatus,
          endReason: z.string().nullable(),
          message: z.string().nullable(),
          runner: z.string().nullable(),
          boards: z.record(z.string(), z.string()),
        }),
      ),
    }),
  ),
});
export type Run = z.infer<typeof Run>;

export const RunSummary = Run.omit({ jobs: true });
export type RunSummary = z.infer<typeof RunSummary>;

export const RunList = z.object({
  runs: z.array(RunSummary),
  nextCursor: z.string().nullable().describe("Pass as `cursor` to get the next (older) page; null at the end"),
});
export type RunList = z.infer<typeof RunList>;

export const Measurements = z.record(z.string(), z.union([z.number(), z.string(), z.boolean()]));
export type Measurements = z.infer<typeof Measurements>;

export const ResultItem = z.object({
  suite: z.string(),
  test: z.string(),
  boards: z.array(z.string()).describe("Names of the boards the test ran on"),
  status: TestStatus,
  durationMs: z.number(),
  message: z.string().optional(),
  measurements: Measurements.optional(),
  attempt: z.number().describe("Attempt number the result comes from"),
  logSpan: z.object({ role: z.string(), board: z.string(), start: z.number(), end: z.number() }).optional(),
});
export type ResultItem = z.infer<typeof ResultItem>;

export const ResultList = z.object({ results: z.array(ResultItem) });
export type ResultList = z.infer<typeof ResultList>;

export const RunnerView = z.object({
  id: z.string(),
  name: z.string(),
  hostname: z.string().nullable(),
  version: z.string().nullable(),
  online: z.boolean(),
  lastSeenAt: z.string().nullable(),
  createdAt: z.string(),
  boards: z.array(z.string()),
});
export type RunnerView = z.infer<typeof RunnerView>;

export const BoardView = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  runner: z.string(),
  tags: z.array(z.string()),
  state: BoardState,
  health: BoardHealth,
  lastSeenAt: z.string().nullable(),
});
export type BoardView = z.infer<typeof BoardView>;

export const ArtifactView = z.object({
  id: z.string(),
  sha256: z.string(),
  size: z.number(),
  kind: FirmwareKind,
  name: z.string(),
  boardType: z.string().nullable(),
  createdAt: z.string(),
});
export type ArtifactView = z.infer<typeof ArtifactView>;

export const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe("Stable machine-readable code"),
    message: z.string().describe("What is wrong and how to fix it"),
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---------------------------------------------------------------------------------------------------------------
// Runner protocol (/api/v1/runner/...)
// ---------------------------------------------------------------------------------------------------------------

export const RunnerBoard = z.object({
  name: Name.describe("Stable board name within this runner, e.g. nrf-1"),
  type: Name.describe("Board type, e.g. nrf52840dk"),
  tags: z.array(z.string().min(1).max(100)).max(50).default([]),
});
export type RunnerBoard = z.infer<typeof RunnerBoard>;

export const RegisterRunnerBody = z
  .object({
    registrationToken: z.string().min(10).describe("One-time registration token from an admin"),
    name: Name,
    hostname: z.string().max(255).optional(),
    version: z.string().max(50).optional(),
  })
  .strict();
export type RegisterRunnerBody = z.infer<typeof RegisterRunnerBody>;

export const RegisterRunnerResponse = z.object({
  runnerId: z.string(),
  token: z.string().describe("Runner token; shown once, stored hashed on the server"),
  heartbeatIntervalMs: z.number(),
});
export type RegisterRunnerResponse = z.infer<typeof RegisterRunnerResponse>;

export const SyncBoardsBody = z.object({ boards: z.array(RunnerBoard).max(256) }).strict();
export type SyncBoardsBody = z.infer<typeof SyncBoardsBody>;

export const SyncBoardsResponse = z.object({
  boards: z.array(z.object({ id: z.string(), name: z.string(), type: z.string(), health: BoardHealth })),
  heartbeatIntervalMs: z.number(),
  /** Attempts the API believes this runner is running; a fresh runner process ends them as runner lost. */
  orphanedAttempts: z.array(z.string()),
});
export type SyncBoardsResponse = z.infer<typeof SyncBoardsResponse>;

export const HeartbeatBody = z.object({ attemptId: z.string().nullable().describe("Attempt the runner is working on, if any") }).strict();
export type HeartbeatBody = z.infer<typeof HeartbeatBody>;

export const HeartbeatResponse = z.object({
  cancel: z.boolean().describe("True when the current attempt was cancelled or taken away: stop it now"),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

export const LeaseBody = z
  .object({ waitMs: z.number().int().min(0).max(30_000).default(10_000).describe("Long-poll for up to this long") })
  .strict();
export type LeaseBody = z.infer<typeof LeaseBody>;

export const LeasedFirmware = z.object({
  name: z.string(),
  kind: FirmwareKind,
  sha256: Sha256,
  size: z.number(),
  flash: z.boolean().describe("Flash at the start of the job; false: fetched for the tests to flash themselves"),
});
export type LeasedFirmware = z.infer<typeof LeasedFirmware>;

export const LeasedRole = z.object({
  role: z.string(),
  board: z.string().describe("Board name on this runner"),
  firmware: z.array(LeasedFirmware),
});
export type LeasedRole = z.infer<typeof LeasedRole>;

export const Lease = z.object({
  attemptId: z.string(),
  attemptNumber: z.number(),
  jobId: z.string(),
  runId: z.string(),
  suite: z.string(),
  tests: z.array(z.string()),
  roles: z.array(LeasedRole),
  seed: z.number(),
  faults: Faults.nullable().describe("This job's faults: the run-wide ones merged with its suite's overrides"),
  timeoutMs: z.number(),
});
export type Lease = z.infer<typeof Lease>;

export const LeaseResponse = z.object({ lease: Lease.nullable() });
export type LeaseResponse = z.infer<typeof LeaseResponse>;

export const LogChunkBody = z
  .object({
    role: z.string(),
    offset: z.number().int().min(0).describe("Byte offset of this chunk in the role's serial log"),
    data: z.base64().max(2_000_000).describe("Chunk bytes, base64"),
  })
  .strict();
export type LogChunkBody = z.infer<typeof LogChunkBody>;

export const LogChunkResponse = z.object({ size: z.number().describe("Log size after this chunk") });
export type LogChunkResponse = z.infer<typeof LogChunkResponse>;

export const SubmittedResult = z
  .object({
    test: z.string(),
    status: TestStatus,
    durationMs: z.number().int().min(0),
    message: z.string().max(10_000).optional(),
    measurements: Measurements.optional(),
    logSpan: z.object({ role: z.string(), start: z.number().int().min(0), end: z.number().int().min(0) }).optional(),
  })
  .strict();
export type SubmittedResult = z.infer<typeof SubmittedResult>;

export const SubmitResultsBody = z.object({ results: z.array(SubmittedResult).min(1).max(1000) }).strict();
export type SubmitResultsBody = z.infer<typeof SubmitResultsBody>;

export const SubmitResultsResponse = z.object({ recorded: z.number() });
export type SubmitResultsResponse = z.infer<typeof SubmitResultsResponse>;

/** Infra reasons a runner may give for ending an attempt as `error`. */
export const AttemptEndReason = z.enum([
  "completed",
  "flash_failed",
  "firmware_unavailable",
  "board_unavailable",
  "suite_crashed",
  "timeout",
  "cancelled",
  "runner_shutdown",
  "runner_lost",
]);
export type AttemptEndReason = z.infer<typeof AttemptEndReason>;

export const FinishAttemptBody = z
  .object({
    status: z.enum(["completed", "error", "cancelled"]),
    reason: AttemptEndReason,
    message: z.string().max(10_000).optional(),
  })
  .strict();
export type FinishAttemptBody = z.infer<typeof FinishAttemptBody>;

export const FinishAttemptResponse = z.object({ jobStatus: JobStatus });
export type FinishAttemptResponse = z.infer<typeof FinishAttemptResponse>;
