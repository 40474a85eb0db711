import { BoardView, RunnerView } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { listBoards, listRunners } from "../services/inventory.ts";

export const inventoryRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, env } = fastify.deps;
  fastify.get(
    "/runners",
    { preHandler: fastify.requireRead, schema: { tags: ["lab"], response: { 200: z.object({ runners: z.array(RunnerView) }) } } },
    async () => ({ runners: await listRunners(prisma, env.HIL_RUNNER_TIMEOUT_MS) }),
  );
  fastify.get(
    "/boards",
    { preHandler: fastify.requireRead, schema: { tags: ["lab"], response: { 200: z.object({ boards: z.array(BoardView) }) } } },
    async () => ({ boards: await listBoards(prisma, env.HIL_RUNNER_TIMEOUT_MS) }),
  );
};
