/** Prometheus scrape endpoint. Unauthenticated like /healthz: it carries counts, never results or secrets. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { createMetrics } from "../services/metrics.ts";

export const metricsRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, orchestrator, env } = fastify.deps;
  const metrics = createMetrics(prisma, {
    queueCounts: async () => orchestrator.queue.getJobCounts("waiting", "active", "delayed", "failed", "completed", "prioritized"),
    runnerTimeoutMs: env.HIL_RUNNER_TIMEOUT_MS,
  });
  fastify.get(
    "/metrics",
    {
      schema: {
        tags: ["health"],
        summary: "Prometheus metrics: queue depths, job and test durations, board states, infra errors",
        security: [],
        response: { 200: z.string() },
      },
    },
    async (_request, reply) =>
      reply
        .type(metrics.contentType)
        .serializer((s: string) => s)
        .send(await metrics.render()),
  );
};
