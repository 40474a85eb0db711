import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

/** Liveness checks nothing external; readiness checks Postgres and Redis. */
export const healthRoutes: FastifyPluginAsyncZod = async (fastify) => {
  fastify.get(
    "/healthz",
    { schema: { tags: ["health"], security: [], response: { 200: z.object({ status: z.literal("ok") }) } } },
    async () => ({
      status: "ok" as const,
    }),
  );

  fastify.get(
    "/readyz",
    {
      schema: {
        tags: ["health"],
        security: [],
        response: {
          200: z.object({ status: z.literal("ready") }),
          503: z.object({ status: z.literal("not_ready"), problems: z.array(z.string()) }),
        },
      },
    },
    async (_request, reply) => {
      const { prisma, orchestrator } = fastify.deps;
      const problems: string[] = [];
      await prisma.$queryRaw`SELECT 1`.catch((err: Error) => problems.push(`postgres: ${err.message}`));
      await orchestrator.ping().catch((err: Error) => problems.push(`redis: ${err.message}`));
      if (problems.length > 0) return reply.status(503).send({ status: "not_ready" as const, problems });
      return { status: "ready" as const };
    },
  );
};
