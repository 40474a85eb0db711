import {
  ErrorBody,
  FinishAttemptBody,
  FinishAttemptResponse,
  HealthReportBody,
  HealthReportResponse,
  HeartbeatBody,
  HeartbeatResponse,
  LeaseBody,
  LeaseResponse,
  LogChunkBody,
  LogChunkResponse,
  RegisterRunnerBody,
  RegisterRunnerResponse,
  SubmitResultsBody,
  SubmitResultsResponse,
  SyncBoardsBody,
  SyncBoardsResponse,
} from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { z } from "zod";
import { AppError, ErrorCode } from "../errors.ts";
import { runnerOf } from "../plugins/auth.ts";
import { openArtifact } from "../services/artifacts.ts";
import { storeAttemptArtifact } from "../services/attempt-artifacts.ts";
import { Dispatcher, reportHealth } from "../services/allocator.ts";
import { createSqlPool } from "../db.ts";
import { Batcher, finishCompletedBatch, submitResultsBatch } from "../services/runner-batches.ts";
import type { FinishItem, ResultsItem } from "../services/runner-batches.ts";
import { appendLogChunk, endOrphanedAttempts, finishAttempt, heartbeat, registerRunner, syncBoards } from "../services/runner-protocol.ts";

/**
 * Per-request logs of the calls every job makes several times (lease polls, heartbeats, results, log chunks,
 * finishes) would be most of the log and cost a write each; those routes log warnings and errors only, and the
 * events that matter (job leased, attempt finished) are logged once each by the protocol logger below.
 */
const QUIET = "warn";

/**
 * The same routes skip validating their responses against the schema (it stays for the OpenAPI document): the
 * handlers build them from typed code, and a zod parse of every lease and finish answer is CPU the scheduler
 * needs. Requests are still validated.
 */
const plainJson = () => (data: unknown) => JSON.stringify(data);

const AttemptParams = z.object({ id: z.uuid({ message: "attempt id must be a UUID" }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody };

/** The runner protocol. Runners never touch Postgres or Redis; this is their only door. */
export const runnerRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, env, workSignal } = fastify.deps;
  const log = fastify.log.child({ component: "runner-protocol" });
  const sql = createSqlPool(env.DATABASE_URL, env.HIL_SQL_POOL_SIZE, (err) =>
    log.warn({ err }, "a pooled Postgres connection was lost; the next statement opens a new one"),
  );
  const dispatcher = new Dispatcher({
    pool: sql,
    prisma,
    workSignal,
    logger: fastify.log.child({ component: "dispatcher" }) as unknown as Logger,
    settings: {
      agingPerMinute: env.HIL_AGING_PER_MINUTE,
      priorityStep: env.HIL_PRIORITY_STEP,
      runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS,
      steps: { fetchMs: env.HIL_STEP_FETCH_MS, flashMs: env.HIL_STEP_FLASH_MS, bootMs: env.HIL_STEP_BOOT_MS, testMs: env.HIL_STEP_TEST_MS },
    },
  });
  const results = new Batcher((items: ResultsItem[]) => submitResultsBatch(sql, items));
  const completions = new Batcher((items: FinishItem[]) => finishCompletedBatch(sql, items));
  // Waiting lease requests are answered (empty) before the server stops, then the pool closes.
  fastify.addHook("preClose", () => dispatcher.close());
  fastify.addHook("onClose", () => sql.end());

  fastify.post(
    "/register",
    { schema: { tags: ["runner"], security: [], body: RegisterRunnerBody, response: { 201: RegisterRunnerResponse, ...errors } } },
    async (request, reply) => {
      const { runnerId, token } = await registerRunner(prisma, request.body);
      request.log.info({ runnerId, runner: request.body.name }, "runner registered");
      return reply.status(201).send({ runnerId, token, heartbeatIntervalMs: env.HIL_HEARTBEAT_INTERVAL_MS });
    },
  );

  fastify.put(
    "/boards",
    {
      preHandler: fastify.requireRunner,
      schema: { tags: ["runner"], body: SyncBoardsBody, response: { 200: SyncBoardsResponse, ...errors } },
    },
    async (request) => {
      const runner = runnerOf(request);
      const result = await syncBoards(prisma, runner.runnerId, request.body.boards);
      // A runner announcing its inventory has just (re)started: whatever the API thinks it was running is gone.
      await endOrphanedAttempts(prisma, result.orphanedAttempts, runner.name, env.HIL_BOARD_BAD_AFTER);
      workSignal.notify();
      return { ...result, heartbeatIntervalMs: env.HIL_HEARTBEAT_INTERVAL_MS };
    },
  );

  fastify.post(
    "/heartbeat",
    {
      preHandler: fastify.requireRunner,
      logLevel: QUIET,
      serializerCompiler: plainJson,
      schema: { tags: ["runner"], body: HeartbeatBody, response: { 200: HeartbeatResponse, ...errors } },
    },
    async (request, reply) => {
      // Arrival, not now: the token check before this handler may have waited for the database.
      const receivedAt = Date.now() - reply.elapsedTime;
      const runner = runnerOf(request);
      const { cancel, stops, lost } = await heartbeat(prisma, runner.runnerId, request.body.attemptIds, {
        runnerName: runner.name,
        receivedAt,
        boardBadAfter: env.HIL_BOARD_BAD_AFTER,
      });
      if (lost.length > 0) {
        log.warn({ attempts: lost, runner: runner.name }, "ended attempts the runner's heartbeat did not list (lease lost)");
        // Their jobs may be queued for a retry, and their boards are free.
        workSignal.notify("queue");
      }
      // Built here, not passed through: this route's serializer writes whatever it is given.
      return { cancel, stops };
    },
  );

  fastify.post(
    "/lease",
    {
      preHandler: fastify.requireRunner,
      logLevel: QUIET,
      serializerCompiler: plainJson,
      schema: {
        tags: ["runner"],
        summary: "Long-poll for the next job this runner's free boards can run",
        body: LeaseBody.default({ waitMs: 10_000 }),
        response: { 200: LeaseResponse, ...errors },
      },
    },
    async (request) => {
      const runner = runnerOf(request);
      const aborted = new AbortController();
      request.raw.on("close", () => aborted.abort());
      const decision = await dispatcher.lease(runner.runnerId, request.body.waitMs, aborted.signal);
      if (decision.healthCheck) log.info({ board: decision.healthCheck.board, runner: runner.name }, "health check leased");
      const leased = decision.lease;
      if (leased) {
        log.info({ attemptId: leased.attemptId, jobId: leased.jobId, runId: leased.runId, runner: runner.name }, "job leased");
      }
      return decision;
    },
  );

  fastify.post(
    "/boards/:name/health",
    {
      preHandler: fastify.requireRunner,
      schema: {
        tags: ["runner"],
        summary: "Report a health check's outcome",
        params: z.object({
          name: z
            .string()
            .min(1)
            .refine((n) => !n.includes("\u0000"), "board names do not contain NUL characters; use the name the runner announced"),
        }),
        body: HealthReportBody,
        response: { 200: HealthReportResponse, ...errors },
      },
    },
    async (request) => {
      const runner = runnerOf(request);
      const health = await reportHealth(
        prisma,
        runner.runnerId,
        request.params.name,
        request.body.ok,
        request.body.message,
        env.HIL_BOARD_BAD_AFTER,
      );
      if (!health) throw new AppError(ErrorCode.NOT_FOUND, `runner ${runner.name} has no board ${request.params.name}`);
      request.log.info({ board: request.params.name, ok: request.body.ok, health, message: request.body.message }, "health check reported");
      workSignal.notify("boards");
      return { health };
    },
  );

  fastify.get(
    "/artifacts/:sha256",
    {
      preHandler: fastify.requireRunner,
      schema: {
        tags: ["runner"],
        summary: "Download a firmware image by digest",
        params: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
      },
    },
    async (request, reply) => {
      const { artifact, stream } = await openArtifact(prisma, env.HIL_DATA_DIR, request.params.sha256);
      return reply
        .header("content-length", artifact.size)
        .header("x-sha256", artifact.sha256)
        .type("application/octet-stream")
        .send(stream);
    },
  );

  fastify.post(
    "/attempts/:id/logs",
    {
      preHandler: fastify.requireRunner,
      logLevel: QUIET,
      serializerCompiler: plainJson,
      bodyLimit: 4 * 1024 * 1024,
      schema: { tags: ["runner"], params: AttemptParams, body: LogChunkBody, response: { 200: LogChunkResponse, ...errors } },
    },
    async (request) =>
      appendLogChunk(prisma, runnerOf(request).runnerId, request.params.id, {
        role: request.body.role,
        offset: request.body.offset,
        data: Buffer.from(request.body.data, "base64"),
      }),
  );

  // Captures and tool logs arrive as raw bytes.
  fastify.addContentTypeParser(
    "application/octet-stream",
    { parseAs: "buffer", bodyLimit: env.HIL_MAX_ARTIFACT_BYTES },
    (_req, body, done) => done(null, body),
  );

  fastify.post(
    "/attempts/:id/artifacts",
    {
      preHandler: fastify.requireRunner,
      bodyLimit: env.HIL_MAX_ARTIFACT_BYTES,
      schema: {
        tags: ["runner"],
        summary: "Upload a file recorded during the attempt (raw bytes)",
        params: AttemptParams,
        querystring: z.object({
          name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, "use letters, digits, '.', '_' or '-'"),
          mediaType: z.string().regex(/^[a-z]+\/[A-Za-z0-9.+-]+$/, "must be a media type such as application/vnd.tcpdump.pcap"),
        }),
        response: { 201: z.object({ id: z.string(), sha256: z.string(), size: z.number() }), ...errors },
      },
    },
    async (request, reply) => {
      if (!Buffer.isBuffer(request.body)) {
        return reply
          .status(400)
          .send({ error: { code: "VALIDATION", message: "send the file as Content-Type: application/octet-stream" } });
      }
      const a = await storeAttemptArtifact(prisma, env.HIL_DATA_DIR, runnerOf(request).runnerId, request.params.id, {
        name: request.query.name,
        mediaType: request.query.mediaType,
        bytes: request.body,
      });
      return reply.status(201).send({ id: a.id, sha256: a.sha256, size: a.size });
    },
  );

  fastify.post(
    "/attempts/:id/results",
    {
      preHandler: fastify.requireRunner,
      logLevel: QUIET,
      serializerCompiler: plainJson,
      schema: { tags: ["runner"], params: AttemptParams, body: SubmitResultsBody, response: { 200: SubmitResultsResponse, ...errors } },
    },
    async (request) =>
      results.submit({ runnerId: runnerOf(request).runnerId, attemptId: request.params.id, results: request.body.results }),
  );

  fastify.post(
    "/attempts/:id/finish",
    {
      preHandler: fastify.requireRunner,
      logLevel: QUIET,
      serializerCompiler: plainJson,
      schema: { tags: ["runner"], params: AttemptParams, body: FinishAttemptBody, response: { 200: FinishAttemptResponse, ...errors } },
    },
    async (request) => {
      const { runnerId } = runnerOf(request);
      const { body } = request;
      // The common case goes through the batch; infra errors and cancellations take the single-attempt path.
      const result =
        body.status === "completed"
          ? await completions.submit({ runnerId, attemptId: request.params.id, body: { ...body, status: "completed" } })
          : await finishAttempt(prisma, runnerId, request.params.id, body, env.HIL_BOARD_BAD_AFTER);
      log.info(
        { attemptId: request.params.id, status: request.body.status, reason: request.body.reason, jobStatus: result.jobStatus },
        "attempt finished",
      );
      // A completed attempt frees boards; any other end may put the job back in the queue for a retry.
      workSignal.notify(body.status === "completed" ? "boards" : "queue");
      return result;
    },
  );
};
