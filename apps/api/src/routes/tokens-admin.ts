/** Admin management of API tokens and runner registration tokens (creating them is in admin.ts). */
import { ApiTokenView, ErrorBody, RegistrationTokenView } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { listApiTokens, listRegistrationTokens, revokeApiToken, revokeRegistrationToken } from "../services/token-admin.ts";

const IdParams = z.object({ id: z.uuid({ message: "token id must be a UUID (see the list endpoint)" }) });

export const tokenAdminRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma } = fastify.deps;
  const admin = fastify.requireScope("admin");

  fastify.get(
    "/tokens",
    {
      preHandler: admin,
      schema: {
        tags: ["admin"],
        summary: "List API tokens (never their secrets)",
        querystring: z.object({ revoked: z.enum(["true", "false"]).default("false").describe("Include revoked tokens") }),
        response: { 200: z.object({ tokens: z.array(ApiTokenView) }), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => ({ tokens: await listApiTokens(prisma, request.query.revoked === "true") }),
  );

  fastify.delete(
    "/tokens/:id",
    {
      preHandler: admin,
      schema: {
        tags: ["admin"],
        summary: "Revoke an API token",
        params: IdParams,
        response: { 200: ApiTokenView, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => revokeApiToken(prisma, request.params.id),
  );

  fastify.get(
    "/registration-tokens",
    {
      preHandler: admin,
      schema: {
        tags: ["admin"],
        summary: "List runner registration tokens and the runners that used them",
        response: { 200: z.object({ tokens: z.array(RegistrationTokenView) }), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async () => ({ tokens: await listRegistrationTokens(prisma) }),
  );

  fastify.delete(
    "/registration-tokens/:id",
    {
      preHandler: admin,
      schema: {
        tags: ["admin"],
        summary: "Revoke an unused registration token",
        params: IdParams,
        response: { 204: z.null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      await revokeRegistrationToken(prisma, request.params.id);
      return reply.status(204).send(null);
    },
  );
};
