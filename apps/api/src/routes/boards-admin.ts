/** Board statistics and admin health actions (maintenance, retire, health check now). */
import { BoardHealthBody, BoardStats, ErrorBody } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { boardStats, setBoardHealth } from "../services/board-stats.ts";

export const boardAdminRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, env, workSignal } = fastify.deps;

  fastify.get(
    "/boards/stats",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["lab"],
        summary: "Per board: health, current job, last seen, attempts and infra error rate over a window",
        querystring: z.object({ days: z.coerce.number().int().min(1).max(365).default(30).describe("Window for attempt counts") }),
        response: { 200: z.object({ boards: z.array(BoardStats) }), 400: ErrorBody },
      },
    },
    async (request) => ({ boards: await boardStats(prisma, { days: request.query.days, runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS }) }),
  );

  fastify.patch(
    "/boards/:id",
    {
      preHandler: fastify.requireScope("admin"),
      schema: {
        tags: ["lab"],
        summary: "Set a board's health: maintenance or retired take it out of service; unknown runs a health check before its next job",
        params: z.object({ id: z.uuid({ message: "board id must be a UUID (see GET /api/v1/boards)" }) }),
        body: BoardHealthBody,
        response: {
          200: z.object({ boards: z.array(BoardStats) }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      await setBoardHealth(prisma, request.params.id, request.body, request.principal?.name ?? "admin");
      // A board back to `unknown` can be leased (for its health check): wake waiting runners.
      workSignal.notify();
      const boards = await boardStats(prisma, { days: 30, runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS });
      return { boards: boards.filter((b) => b.id === request.params.id) };
    },
  );
};
