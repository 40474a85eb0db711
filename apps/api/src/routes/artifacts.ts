import { ArtifactView, ErrorBody, FirmwareKind } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { listArtifacts, storeArtifact } from "../services/artifacts.ts";

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "must be 1-100 letters, digits, '.', '_' or '-'");

export const artifactRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, env } = fastify.deps;

  // Firmware arrives as raw bytes; parse them into a Buffer only for this plugin's routes.
  fastify.addContentTypeParser(
    "application/octet-stream",
    { parseAs: "buffer", bodyLimit: env.HIL_MAX_ARTIFACT_BYTES },
    (_req, body, done) => done(null, body),
  );

  fastify.post(
    "/artifacts",
    {
      preHandler: fastify.requireScope("trigger"),
      bodyLimit: env.HIL_MAX_ARTIFACT_BYTES,
      schema: {
        tags: ["artifacts"],
        summary: "Upload a firmware image (raw bytes, Content-Type: application/octet-stream)",
        querystring: z.object({
          name: Name.describe("Logical firmware name, e.g. nrf52840dk (kernel) or radio_rx (app)"),
          kind: FirmwareKind,
          boardType: Name.optional(),
          sha256: z
            .string()
            .regex(/^[0-9a-f]{64}$/, "must be a lowercase hex SHA-256")
            .optional()
            .describe("Declared digest, checked"),
        }),
        response: { 201: ArtifactView, 200: ArtifactView, 400: ErrorBody, 413: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!Buffer.isBuffer(request.body)) {
        return reply
          .status(400)
          .send({ error: { code: "VALIDATION", message: "send the firmware as Content-Type: application/octet-stream" } });
      }
      const { artifact, created } = await storeArtifact(prisma, env.HIL_DATA_DIR, {
        bytes: request.body,
        name: request.query.name,
        kind: request.query.kind,
        boardType: request.query.boardType,
        expectedSha256: request.query.sha256,
      });
      return reply.status(created ? 201 : 200).send(artifact);
    },
  );

  fastify.get(
    "/artifacts",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["artifacts"],
        querystring: z.object({ name: Name.optional() }),
        response: { 200: z.object({ artifacts: z.array(ArtifactView) }) },
      },
    },
    async (request) => ({ artifacts: await listArtifacts(prisma, request.query.name) }),
  );
};
