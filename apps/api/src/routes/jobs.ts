import { ErrorBody } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { listJobArtifacts, openJobArtifact } from "../services/attempt-artifacts.ts";

const JobArtifact = z.object({
  id: z.string(),
  attempt: z.number(),
  name: z.string(),
  mediaType: z.string(),
  size: z.number(),
  sha256: z.string(),
  createdAt: z.string(),
  url: z.string().describe("Download path"),
});

export const jobRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, env } = fastify.deps;

  fastify.get(
    "/jobs/:id/artifacts",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["runs"],
        summary: "Files recorded during the job's attempts (e.g. pcap captures of the radio medium)",
        params: z.object({ id: z.uuid({ message: "job id must be a UUID" }) }),
        response: { 200: z.object({ artifacts: z.array(JobArtifact) }), 404: ErrorBody },
      },
    },
    async (request) => ({
      artifacts: (await listJobArtifacts(prisma, request.params.id)).map((a) => ({
        ...a,
        url: `/api/v1/jobs/${request.params.id}/artifacts/${a.id}`,
      })),
    }),
  );

  fastify.get(
    "/jobs/:id/artifacts/:artifactId",
    {
      preHandler: fastify.requireRead,
      schema: { tags: ["runs"], summary: "Download one job artifact", params: z.object({ id: z.uuid(), artifactId: z.uuid() }) },
    },
    async (request, reply) => {
      const { artifact, stream } = await openJobArtifact(prisma, env.HIL_DATA_DIR, request.params.id, request.params.artifactId);
      return reply
        .type(artifact.mediaType)
        .header("content-length", artifact.size)
        .header("content-disposition", `attachment; filename="${artifact.name.replace(/[^A-Za-z0-9._-]/g, "_")}"`)
        .send(stream);
    },
  );
};
