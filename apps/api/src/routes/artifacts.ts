import { Readable } from "node:stream";
import { ArtifactView, ErrorBody, FirmwareKind } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { storeArtifactStream } from "../services/artifact-upload.ts";
import { listArtifacts } from "../services/artifacts.ts";

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "must be 1-100 letters, digits, '.', '_' or '-'");

export const artifactRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, env } = fastify.deps;

  // Firmware arrives as raw bytes and is streamed to disk by the handler (never buffered whole in memory);
  // the size limit is enforced while streaming (services/artifact-upload.ts).
  fastify.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));

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
          commit: z
            .string()
            .regex(/^[0-9a-f]{40}$/, "must be a full 40-character commit SHA")
            .optional()
            .describe("Commit the firmware was built from; GitHub-triggered and nightly runs of that commit flash it"),
        }),
        response: { 201: ArtifactView, 200: ArtifactView, 400: ErrorBody, 413: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (!(body instanceof Readable)) {
        return reply
          .status(400)
          .send({ error: { code: "VALIDATION", message: "send the firmware as Content-Type: application/octet-stream" } });
      }
      const length = Number(request.headers["content-length"]);
      const { artifact, created } = await storeArtifactStream(prisma, env.HIL_DATA_DIR, {
        stream: body,
        maxBytes: env.HIL_MAX_ARTIFACT_BYTES,
        declaredLength: Number.isFinite(length) ? length : undefined,
        name: request.query.name,
        kind: request.query.kind,
        boardType: request.query.boardType,
        expectedSha256: request.query.sha256,
        commit: request.query.commit,
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
