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
    linkLoss: z
      .array(
        z
          .object({
            from: z.string().min(1).describe('Sending board name, or "*" for any'),
            to: z.string().min(1).describe('Receiving board name, or "*" for any'),
            loss: z.number().min(0).max(1).describe("Probability (0..1) that a frame on this link is lost"),
          })
          .strict(),
      )
      .optional()
      .describe("Per-link 802.15.4 loss by board name (directional); applied on top of `loss`; the highest matching entry wins"),
    burstLoss: z
      .object({
        enterBad: z.number().min(0).max(1).describe("Per-frame probability that a link in the good state turns bad"),
        exitBad: z.number().min(0).max(1).describe("Per-frame probability that a link in the bad state recovers"),
        lossBad: z.number().min(0).max(1).optional().describe("Loss probability while bad (default 1)"),
        lossGood: z.number().min(0).max(1).optional().describe("Loss probability while good (default 0)"),
      })
      .strict()
      .optional()
      .describe("Bursty 802.15.4 loss: a Gilbert-Elliott two-state chain per (sender, receiver) link, stepped once per frame"),
    jamming: z
      .array(
        z
          .object({
            channel: z.number().int().min(11).max(26).describe("802.15.4 channel to jam"),
            fromMs: z.number().min(0).optional().describe("Start, in ms of virtual time after the session began (default 0)"),
            untilMs: z.number().min(0).optional().describe("End, in ms after the session began (default: the whole session)"),
          })
          .strict(),
      )
      .optional()
      .describe("Continuous interference on a channel: CCA always busy (EBUSY after 4 attempts), frames on it are destroyed"),
    bootHang: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Targets ("all", a board name, or an app/image name) that print nothing after any reset: the runner ends the attempt as boot_timeout',
      ),
    flashHang: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Targets ("all", a board name, or an image/app name being flashed) whose debug probe stops answering mid-write: flashing never completes and the runner ends the attempt as flash_timeout',
      ),
    boardHang: z
      .array(
        z
          .object({
            target: z.string().min(1).describe('"all", a board name (e.g. nrf-2), or an app/image name the board runs'),
            afterMs: z.number().min(0).describe("Virtual ms after the kernel's boot banner"),
          })
          .strict(),
      )
      .optional()
      .describe("The targeted board's CPU hangs: no more serial output, console input ignored, radio off, until reset"),
    kernelPanic: z
      .array(
        z
          .object({
            target: z.string().min(1).describe('"all", a board name, or an app/image name the board runs'),
            afterMs: z.number().min(0).describe("Virtual ms after the kernel's boot banner"),
          })
          .strict(),
      )
      .optional()
      .describe("The targeted board's kernel panics (Tock panic banner on serial) and stops until reset"),
    routerAbsent: z.boolean().optional().describe("Boards flashed with an OpenThread router image stay unpowered: no serial, no radio"),
    wrongNetworkKey: z
      .boolean()
      .optional()
      .describe("Tock OpenThread apps use a network key that differs from the router's in one byte, so MLE verification fails"),
    // --- networks and kernels: Ethernet, WiFi, IPC (issue 4) ---
    ethernetLoss: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("Probability (0..1) that an Ethernet frame on the lab's L2 segment is lost on its way to each receiver"),
    ethernetCorruption: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("Probability (0..1) that an Ethernet frame arrives with one bit flipped (the receiving MAC's FCS check drops it)"),
    ethernetLinkDown: z
      .boolean()
      .optional()
      .describe("Board Ethernet cables unplugged: wired boards have no carrier, their frames go nowhere"),
    wifiWrongPassphrase: z
      .boolean()
      .optional()
      .describe("The lab's WPA2 access points use a different passphrase, so the 4-way handshake MIC check fails and joins fail"),
    wifiFirmwareMissing: z
      .boolean()
      .optional()
      .describe("The CYW43439 firmware section of Pico W kernels reads as erased flash: the chip never boots and WiFi init fails"),
    wifiApDown: z.boolean().optional().describe("The lab's access points are off: scans find nothing and joins fail"),
    dhcpSilent: z.boolean().optional().describe("The lab's DHCP server ignores every request, so no station gets a lease"),
    ipcSilentService: z
      .boolean()
      .optional()
      .describe("On multi-kernel boards the remote echo service (kernel 1) accepts requests but never responds"),
    ipcRemotePanic: z
      .boolean()
      .optional()
      .describe("On multi-kernel boards kernel instance 1 panics 50 ms after its boot banner; kernel 0 keeps running"),
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
    priority: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe("Scheduling priority, higher first; default from the trigger (manual 300, pull_request 200, push 150, nightly 100)"),
  })
  .strict();
export type CreateRunBody = z.infer<typeof CreateRunBody>;

export const UpdateRunBody = z
  .object({
    priority: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .describe("New scheduling priority (higher first) for the run's jobs that have not started yet"),
  })
  .strict();
export type UpdateRunBody = z.infer<typeof UpdateRunBody>;

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
  priority: z.number(),
  message: z.string().nullable().describe("Why the run ended as it did, when not obvious from its results"),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  jobs: z.array(
    z.object({
      id: z.string(),
      suite: z.string(),
      status: JobStatus,
      endReason: z.string().nullable().describe("Set when the job ended without an attempt deciding it (queue_timeout, cancelled)"),
      waiting: z
        .string()
        .nullable()
        .optional()
        .describe("For a queued job: why it has not started (no such boards, runners offline, boards unhealthy or busy)"),
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

/** Answer to POST /api/v1/jobs/:id/cancel. */
export const CancelledJob = z.object({ id: z.string(), status: JobStatus.describe("The job's status after the cancel: cancelled") });
export type CancelledJob = z.infer<typeof CancelledJob>;

export const RunSummary = Run.omit({ jobs: true });
export type RunSummary = z.infer<typeof RunSummary>;

export const RunList = z.object({
  runs: z.array(RunSummary),
  nextCursor: z.string().nullable().describe("Pass as `cursor` to get the next (older) page; null at the end"),
});
export type RunList = z.infer<typeof RunList>;

/**
 * Text a runner sends that is stored in Postgres, which cannot hold NUL characters: a message may quote raw serial
 * output, so a NUL is kept as ␀ (U+2400) rather than failing the whole request.
 */
const storedText = (max?: number) =>
  (max === undefined ? z.string() : z.string().max(max)).overwrite((s) => s.replaceAll("\u0000", "\u2400"));

/**
 * A name a runner sends that the API looks up or stores (a test, a role). Unlike a message it is refused rather
 * than rewritten when it holds a NUL: a rewritten name would never match the job's.
 */
const storedName = (field: string) =>
  z
    .string()
    .min(1, `${field} must not be empty`)
    .refine((s) => !s.includes("\u0000"), `${field} must not contain NUL characters`);

/** Largest value of a Postgres integer column: durations and byte offsets are stored as int4. */
const INT4_MAX = 2_147_483_647;

const storedInt = (field: string) =>
  z
    .number()
    .int(`${field} must be a whole number`)
    .min(0, `${field} must not be negative`)
    .max(INT4_MAX, `${field} must be at most ${INT4_MAX} (the largest value stored)`);

export const Measurements = z.record(
  z.string().refine((k) => !k.includes("\u0000"), "measurement names must not contain NUL characters"),
  z.union([z.number(), storedText(), z.boolean()]),
);
export type Measurements = z.infer<typeof Measurements>;

export const ResultItem = z.object({
  suite: z.string(),
  test: z.string(),
  boards: z.array(z.string()).describe("Names of the boards the test ran on"),
  status: TestStatus,
  durationMs: z.number(),
  message: z.string().optional(),
  measurements: Measurements.optional(),
  attempt: z.number().describe("Attempt number the result comes from (0: the job never got boards)"),
  tries: z.number().describe("How many times the test ran in that attempt (re-runs of a failed test)"),
  flaky: z.boolean().describe("True when the test failed and then passed on a re-run in the same attempt"),
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
  tags: z
    .array(
      z
        .string()
        .min(1)
        .max(100)
        .refine((t) => !t.includes("\u0000"), "tags must not contain NUL characters"),
    )
    .max(50)
    .default([]),
  group: Name.optional().describe("Shared physical environment, e.g. the RF enclosure the board sits in"),
});
export type RunnerBoard = z.infer<typeof RunnerBoard>;

export const RegisterRunnerBody = z
  .object({
    registrationToken: z.string().min(10).describe("One-time registration token from an admin"),
    name: Name,
    hostname: storedText(255).optional(),
    version: storedText(50).optional(),
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

export const HeartbeatBody = z
  .object({
    attemptIds: z
      .array(z.uuid({ error: "attemptIds must hold attempt ids (UUIDs) from leases" }))
      .max(64)
      .default([])
      .describe(
        "Every attempt the runner is working on. A running attempt of this runner that is missing here, and was leased more than a few seconds ago, is ended as error (lease_lost) and its job retried",
      ),
  })
  .strict();
export type HeartbeatBody = z.infer<typeof HeartbeatBody>;

export const HeartbeatStop = z.object({
  attemptId: z.string(),
  status: z
    .string()
    .describe("How the API ended the attempt (cancelled, error, completed), or unknown when this runner has no such attempt"),
  reason: z.string().nullable().describe("The end reason the API recorded (cancelled, timeout, runner_lost, ...)"),
  message: z.string().nullable().describe("The API's message: who cancelled it and why, which bound ran out"),
});
export type HeartbeatStop = z.infer<typeof HeartbeatStop>;

export const HeartbeatResponse = z.object({
  cancel: z.array(z.string()).describe("Attempts that were cancelled or taken away: stop them now"),
  // Lenient: this field only explains; a malformed or missing one must not cost the runner `cancel`, its stop signal.
  stops: z.array(HeartbeatStop).catch([]).describe("Why each attempt in `cancel` ended, as the API recorded it"),
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
  bootCheck: z.boolean().describe("Require output after reset before the tests (false for firmware that boots silently)"),
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
  reruns: z.number().describe("Re-run a failed test up to this many times; pass-after-fail is reported as flaky"),
  steps: z.object({
    fetchMs: z.number().describe("Bound on fetching and verifying all firmware"),
    flashMs: z.number().describe("Bound on flashing one board"),
    bootMs: z.number().describe("Bound on a board's first output after reset"),
    testMs: z.number().describe("Default bound on one test case (wall time)"),
  }),
});
export type Lease = z.infer<typeof Lease>;

/** Flash a known-good kernel on a board whose health is unknown, reset it, and check it boots and answers. */
export const HealthCheck = z.object({
  board: z.string(),
  firmware: z.array(LeasedFirmware),
  bootTimeoutMs: z.number(),
  // Optional so that a runner and an API of different versions still agree; the runner falls back to its default.
  flashTimeoutMs: z.number().optional().describe("Bound on flashing the board (HIL_STEP_FLASH_MS)"),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

export const LeaseResponse = z.object({
  lease: Lease.nullable(),
  healthCheck: HealthCheck.nullable().default(null).describe("A board to check before it may take jobs"),
});
export type LeaseResponse = z.infer<typeof LeaseResponse>;

export const LogChunkBody = z
  .object({
    role: storedName("role"),
    offset: z
      .number()
      .int()
      .min(0)
      .max(INT4_MAX, `offset must be at most ${INT4_MAX}`)
      .describe("Byte offset of this chunk in the role's serial log"),
    data: z.base64().max(2_000_000).describe("Chunk bytes, base64"),
  })
  .strict();
export type LogChunkBody = z.infer<typeof LogChunkBody>;

export const LogChunkResponse = z.object({ size: z.number().describe("Log size after this chunk") });
export type LogChunkResponse = z.infer<typeof LogChunkResponse>;

export const SubmittedResult = z
  .object({
    test: storedName("test"),
    try: z
      .number()
      .int()
      .min(1)
      .max(20)
      .default(1)
      .describe(
        "1 for the first run; a re-run counts up and is accepted only up to the lease's reruns + 1, after the previous try failed (recorded earlier or in the same request)",
      ),
    status: TestStatus,
    durationMs: storedInt("durationMs"),
    message: storedText(10_000).optional(),
    measurements: Measurements.optional(),
    logSpan: z.object({ role: storedName("logSpan.role"), start: storedInt("logSpan.start"), end: storedInt("logSpan.end") }).optional(),
  })
  .strict();
export type SubmittedResult = z.infer<typeof SubmittedResult>;

export const SubmitResultsBody = z.object({ results: z.array(SubmittedResult).min(1).max(1000) }).strict();
export type SubmitResultsBody = z.infer<typeof SubmitResultsBody>;

export const SubmitResultsResponse = z.object({ recorded: z.number() });
export type SubmitResultsResponse = z.infer<typeof SubmitResultsResponse>;

/** Infra reasons a runner may give for ending an attempt as `error`. */
export const RunnerErrorReason = z.enum([
  "flash_failed",
  "firmware_unavailable",
  "board_unavailable",
  "suite_crashed",
  "fetch_timeout",
  "flash_timeout",
  "boot_timeout",
  "timeout",
  "runner_shutdown",
]);
export type RunnerErrorReason = z.infer<typeof RunnerErrorReason>;

/**
 * Every reason an attempt can end with (`Attempt.endReason`): the runner's (`completed`, `cancelled` and the
 * error reasons above) and the server's own: `runner_lost` (heartbeats stopped, or the runner restarted) and
 * `lease_lost` (the runner's heartbeats do not list the attempt: its lease never reached it, or it forgot it).
 */
export const AttemptEndReason = z.enum(["completed", ...RunnerErrorReason.options, "cancelled", "runner_lost", "lease_lost"]);
export type AttemptEndReason = z.infer<typeof AttemptEndReason>;

const FINISH_PAIRS = `completed/completed, error/<${RunnerErrorReason.options.join("|")}>, or cancelled/cancelled (only for an attempt the API cancelled)`;

/**
 * How a runner ends an attempt: the status and reason pairs it may send. `cancelled` only acknowledges a
 * cancellation the API made (the heartbeat said so); a runner that must give up ends the attempt as `error`, so
 * the job is retried. `runner_lost` and `lease_lost` are the server's to give.
 */
export const FinishAttemptBody = z.discriminatedUnion(
  "status",
  [
    z
      .object({
        status: z.literal("completed"),
        reason: z.literal("completed", { error: `a completed attempt has reason "completed"; allowed: ${FINISH_PAIRS}` }),
        message: storedText(10_000).optional(),
      })
      .strict(),
    z
      .object({
        status: z.literal("error"),
        reason: z.enum(RunnerErrorReason.options, {
          error: `an error finish needs an infra reason a runner may give; allowed: ${FINISH_PAIRS}`,
        }),
        message: storedText(10_000).optional(),
      })
      .strict(),
    z
      .object({
        status: z.literal("cancelled"),
        reason: z.literal("cancelled", { error: `a cancelled attempt has reason "cancelled"; allowed: ${FINISH_PAIRS}` }),
        message: storedText(10_000).optional(),
      })
      .strict(),
  ],
  { error: `status must be completed, error or cancelled; allowed: ${FINISH_PAIRS}` },
);
export type FinishAttemptBody = z.infer<typeof FinishAttemptBody>;

export const FinishAttemptResponse = z.object({ jobStatus: JobStatus });

export const HealthReportBody = z.object({ ok: z.boolean(), message: storedText(10_000) }).strict();
export type HealthReportBody = z.infer<typeof HealthReportBody>;

export const HealthReportResponse = z.object({ health: BoardHealth });
export type HealthReportResponse = z.infer<typeof HealthReportResponse>;
export type FinishAttemptResponse = z.infer<typeof FinishAttemptResponse>;

// --- results, history, dashboards (issue 6) ---

/** A run as other views point at it: enough to link to it and name the commit it tested. */
export const RunRef = z.object({
  id: z.string(),
  ref: z.string().nullable().describe("Git ref or commit under test"),
  createdAt: z.string(),
});
export type RunRef = z.infer<typeof RunRef>;

export const QuarantineView = z.object({
  id: z.string(),
  suite: z.string(),
  test: z.string(),
  reason: z.string(),
  createdBy: z.string().describe("Name of the token that quarantined the test"),
  createdAt: z.string(),
  expiresAt: z.string().nullable().describe("The quarantine lapses by itself after this; null: until released"),
});
export type QuarantineView = z.infer<typeof QuarantineView>;

export const QuarantineBody = z
  .object({
    reason: z.string().min(3).max(500).describe("Why the test is quarantined (e.g. the issue tracking the flake)"),
    days: z.number().int().min(1).max(365).optional().describe("Lapse after this many days; default: until released"),
  })
  .strict();
export type QuarantineBody = z.infer<typeof QuarantineBody>;

/** One result of a test on one board in one run (a multi-board test appears once per board it used). */
export const HistoryEntry = z.object({
  run: RunRef.extend({ trigger: RunTrigger, project: z.string() }),
  board: z.string(),
  status: TestStatus,
  durationMs: z.number(),
  attempt: z.number(),
  tries: z.number(),
  flaky: z.boolean().describe("Failed, then passed on a re-run within the attempt"),
  message: z.string().nullable(),
  measurements: Measurements.nullable(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const BoardScore = z.object({
  board: z.string(),
  runs: z.number().describe("Results in the window (pass, fail, error, skip, not_run)"),
  passRate: z.number().nullable().describe("pass / (pass + fail); null without any decisive result"),
  flakeScore: z.number().describe("0..1: status flips and pass-after-retry per decisive result (1 = alternates every run)"),
});
export type BoardScore = z.infer<typeof BoardScore>;

export const TestHistory = z.object({
  suite: z.string(),
  test: z.string(),
  quarantine: QuarantineView.nullable(),
  boards: z.array(BoardScore),
  entries: z.array(HistoryEntry).describe("Newest first"),
  nextBefore: z.string().nullable().describe("Pass as `before` to get older entries; null at the end"),
});
export type TestHistory = z.infer<typeof TestHistory>;

export const Regression = z.object({
  suite: z.string(),
  test: z.string(),
  state: z.enum(["active", "fixed"]).describe("active: still failing in the newest run; fixed: passed since"),
  boards: z.array(z.string()).describe("Boards on which the test started failing in firstFailing"),
  firstFailing: RunRef.describe("The first run that failed after the test had passed: its ref is the suspect commit"),
  lastPassing: RunRef.describe("The last run before firstFailing in which the test passed on that board"),
  fixedIn: RunRef.nullable().describe("The first run it passed again on every affected board; null while active"),
  failures: z.number().describe("Failing results since firstFailing, over the affected boards"),
  message: z.string().nullable().describe("The newest failure message"),
});
export type Regression = z.infer<typeof Regression>;

export const RegressionList = z.object({ regressions: z.array(Regression), window: z.number().describe("Runs examined") });
export type RegressionList = z.infer<typeof RegressionList>;

export const FlakyTest = z.object({
  suite: z.string(),
  test: z.string(),
  board: z.string(),
  score: z.number(),
  runs: z.number().describe("Decisive (pass/fail) results in the window"),
  flips: z.number().describe("pass<->fail changes between consecutive runs"),
  retryPasses: z.number().describe("Runs where the test failed, then passed on a re-run"),
  lastStatus: TestStatus,
  quarantined: z.boolean(),
});
export type FlakyTest = z.infer<typeof FlakyTest>;

export const FlakyList = z.object({ flaky: z.array(FlakyTest), window: z.number() });
export type FlakyList = z.infer<typeof FlakyList>;

/**
 * The nightly matrix: one row per (suite, test, board), one character per night (oldest first):
 * P pass, p pass after a re-run (flaky), F fail, E error (infra), S skip, N not run, '.' no result.
 */
export const Matrix = z.object({
  nights: z.array(RunRef.extend({ status: RunStatus })).describe("Oldest first"),
  rows: z.array(
    z.object({
      suite: z.string(),
      test: z.string(),
      board: z.string(),
      cells: z.string(),
      quarantined: z.boolean(),
      flakeScore: z.number(),
    }),
  ),
  serverMs: z.number().describe("Time the server spent building the matrix"),
});
export type Matrix = z.infer<typeof Matrix>;

export const BoardStats = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  runner: z.string(),
  runnerOnline: z.boolean(),
  state: BoardState,
  health: BoardHealth,
  healthMessage: z.string().nullable(),
  healthCheckedAt: z.string().nullable(),
  consecutiveInfraErrors: z.number(),
  lastSeenAt: z.string().nullable(),
  currentJob: z.object({ jobId: z.string(), runId: z.string(), suite: z.string(), attemptId: z.string() }).nullable(),
  attempts: z.number().describe("Attempts on this board in the window"),
  infraErrors: z.number().describe("Of those, attempts that ended in an infra error"),
  infraErrorRate: z.number().nullable(),
  lastAttemptAt: z.string().nullable(),
});
export type BoardStats = z.infer<typeof BoardStats>;

export const BoardHealthBody = z
  .object({
    health: z
      .enum(["unknown", "maintenance", "retired"])
      .describe("maintenance/retired take the board out of service; unknown makes the next lease run a health check first"),
    message: z.string().max(500).optional(),
  })
  .strict();
export type BoardHealthBody = z.infer<typeof BoardHealthBody>;

/** A line of a job's serial logs, merged across its boards on the API's receive clock. */
export const LogLine = z.object({
  t: z.string().describe("When the API received the chunk that completed the line"),
  role: z.string(),
  board: z.string(),
  offset: z.number().describe("Byte offset of the line in its role's log (matches result logSpan offsets)"),
  text: z.string(),
});
export type LogLine = z.infer<typeof LogLine>;

export const MergedLog = z.object({
  attemptId: z.string().nullable(),
  attempt: z.number(),
  running: z.boolean(),
  lines: z.array(LogLine),
  cursor: z.string().describe("Pass back as `cursor` to continue after these lines"),
});
export type MergedLog = z.infer<typeof MergedLog>;

export const ApiTokenView = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(ApiScope),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type ApiTokenView = z.infer<typeof ApiTokenView>;

export const RegistrationTokenView = z.object({
  id: z.string(),
  note: z.string().nullable(),
  createdAt: z.string(),
  expiresAt: z.string(),
  usedAt: z.string().nullable(),
  runner: z.string().nullable(),
});
export type RegistrationTokenView = z.infer<typeof RegistrationTokenView>;
