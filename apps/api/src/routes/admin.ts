import { ApiScope, ErrorBody } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { createApiToken, createRegistrationToken } from "../services/tokens.ts";

export const adminRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma } = fastify.deps;

  fastify.post(
    "/registration-tokens",
    {
      preHandler: fastify.requireScope("admin"),
      schema: {
        tags: ["admin"],
        summary: "Create a one-time token a runner exchanges for its own token (hil-runner register)",
        body: z
          .object({
            note: z.string().max(200).optional(),
            ttlSeconds: z
              .number()
              .int()
              .min(60)
              .max(30 * 24 * 3600)
              .default(24 * 3600),
          })
          .strict()
          .default({ ttlSeconds: 24 * 3600 }),
        response: { 201: z.object({ token: z.string(), expiresAt: z.string() }), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const { token, expiresAt } = await createRegistrationToken(prisma, {
        note: request.body.note,
        ttlMs: request.body.ttlSeconds * 1000,
      });
      return reply.status(201).send({ token, expiresAt: expiresAt.toISOString() });
    },
  );

  fastify.post(
    "/tokens",
    {
      preHandler: fastify.requireScope("admin"),
      schema: {
        tags: ["admin"],
        summary: "Create an API token with scopes; the token is shown once",
        body: z.object({ name: z.string().min(1).max(100), scopes: z.array(ApiScope).min(1) }).strict(),
        response: { 201: z.object({ id: z.string(), token: z.string() }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => reply.status(201).send(await createApiToken(prisma, request.body.name, request.body.scopes)),
  );
};
