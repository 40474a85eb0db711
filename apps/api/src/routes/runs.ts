import { CancelledJob, CreateRunBody, ErrorBody, UpdateRunBody, ResultList, Run, RunList, RunStatus, RunTrigger } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { priorityFor } from "../env.ts";
import { cancelJob, cancelRun } from "../services/cancel.ts";
import { getRun, getRunResults, insertRun, listRuns, planRun, setRunPriority } from "../services/runs.ts";
import { readLogRange } from "../services/runner-protocol.ts";

const RunParams = z.object({ id: z.uuid({ message: "run id must be a UUID" }) });

export const runRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, orchestrator, env } = fastify.deps;

  fastify.post(
    "/runs",
    {
      preHandler: fastify.requireScope("trigger"),
      schema: {
        tags: ["runs"],
        summary: "Trigger a run",
        body: CreateRunBody.default({}),
        response: { 201: Run, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const parameters = await planRun(prisma, fastify.deps.suites, body);
      const run = await insertRun(prisma, {
        project: body.project,
        trigger: "manual",
        ref: body.ref,
        seed: body.seed,
        priority: body.priority ?? priorityFor(fastify.deps.env, "manual"),
        parameters,
      });
      request.log.info({ runId: run.id, suites: parameters.suites }, "run queued");
      // The run is durable now; if Redis is down, the periodic reconciliation (hil.runs.reconcile) expands it later.
      await orchestrator.enqueue("hil.run.expand", { runId: run.id }, { jobId: `expand-${run.id}` }).catch((err: unknown) => {
        request.log.warn({ err, runId: run.id }, "could not enqueue run expansion; reconciliation will expand it");
      });
      return reply.status(201).send(await getRun(prisma, run.id, { runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS }));
    },
  );

  const who = (request: { principal: { kind: string; name: string } | null }) =>
    request.principal ? `${request.principal.kind} token ${request.principal.name}` : "anonymous";

  fastify.patch(
    "/runs/:id",
    {
      preHandler: fastify.requireScope("trigger"),
      schema: {
        tags: ["runs"],
        summary: "Change a waiting or running run's priority; its jobs that have not started are scheduled with it",
        params: RunParams,
        body: UpdateRunBody,
        response: { 200: Run, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      await setRunPriority(prisma, request.params.id, request.body.priority);
      request.log.info({ runId: request.params.id, priority: request.body.priority, by: who(request) }, "run priority changed");
      fastify.deps.workSignal.notify("queue");
      return getRun(prisma, request.params.id, { runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS });
    },
  );

  fastify.post(
    "/runs/:id/cancel",
    {
      preHandler: fastify.requireScope("trigger"),
      schema: {
        tags: ["runs"],
        summary: "Cancel a run: running attempts stop within seconds and release their boards; unfinished tests end not_run",
        params: RunParams,
        response: { 200: Run, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      await cancelRun(prisma, request.params.id, who(request));
      fastify.deps.workSignal.notify();
      return getRun(prisma, request.params.id, { runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS });
    },
  );

  fastify.post(
    "/jobs/:id/cancel",
    {
      preHandler: fastify.requireScope("trigger"),
      schema: {
        tags: ["runs"],
        summary: "Cancel one job of a run",
        params: z.object({ id: z.uuid({ message: "job id must be a UUID" }) }),
        response: { 200: CancelledJob, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const status = await cancelJob(prisma, request.params.id, who(request));
      fastify.deps.workSignal.notify();
      return { id: request.params.id, status };
    },
  );

  fastify.get(
    "/runs",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["runs"],
        summary: "List runs, newest first",
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          cursor: z.string().optional(),
          status: RunStatus.optional(),
          project: z.string().min(1).max(100).optional().describe("Only runs of this project"),
          trigger: RunTrigger.optional().describe("Only runs started by this trigger"),
          ref: z.string().min(1).max(200).optional().describe("Only runs of this git ref or commit"),
          from: z.iso.datetime({ message: "from must be an ISO date-time, e.g. 2026-11-01T00:00:00Z" }).optional(),
          to: z.iso.datetime({ message: "to must be an ISO date-time, e.g. 2026-11-02T00:00:00Z" }).optional(),
        }),
        response: { 200: RunList, 400: ErrorBody },
      },
    },
    async (request) => listRuns(prisma, request.query),
  );

  fastify.get(
    "/runs/:id",
    { preHandler: fastify.requireRead, schema: { tags: ["runs"], params: RunParams, response: { 200: Run, 404: ErrorBody } } },
    async (request) => getRun(prisma, request.params.id, { runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS }),
  );

  fastify.get(
    "/runs/:id/results",
    { preHandler: fastify.requireRead, schema: { tags: ["runs"], params: RunParams, response: { 200: ResultList, 404: ErrorBody } } },
    async (request) => ({ results: await getRunResults(prisma, fastify.deps.suites, request.params.id) }),
  );

  fastify.get(
    "/attempts/:id/logs/:role",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["runs"],
        summary: "Read a range of a board's serial log for one attempt (bytes [start, end))",
        params: z.object({ id: z.uuid(), role: z.string().min(1) }),
        querystring: z.object({ start: z.coerce.number().int().min(0).default(0), end: z.coerce.number().int().min(0).optional() }),
      },
    },
    async (request, reply) => {
      const bytes = await readLogRange(prisma, request.params.id, request.params.role, request.query.start, request.query.end);
      return reply.type("text/plain; charset=utf-8").send(bytes);
    },
  );
};
