/**
 * Bearer-token authentication. API tokens carry scopes (admin > trigger > read); runner tokens only open the
 * runner protocol. Tokens are looked up by SHA-256 hash. `requireScope` and `requireRunner` are preHandlers.
 */
import type { ApiScope } from "@tock-hil/protocol";
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import fp from "fastify-plugin";
import { AppError, ErrorCode } from "../errors.ts";
import type { ApiPrincipal, RunnerPrincipal } from "../services/tokens.ts";
import { findApiToken, findRunnerByToken } from "../services/tokens.ts";

declare module "fastify" {
  interface FastifyRequest {
    principal: ApiPrincipal | RunnerPrincipal | null;
  }
  interface FastifyInstance {
    requireScope(...scopes: ApiScope[]): preHandlerAsyncHookHandler;
    requireRunner: preHandlerAsyncHookHandler;
    /** For reads: allows anonymous access when HIL_PUBLIC_READ is true. */
    requireRead: preHandlerAsyncHookHandler;
  }
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new AppError(ErrorCode.UNAUTHORIZED, "Authorization header must be 'Bearer <token>'");
  return match[1];
}

export const authPlugin = fp(async (fastify: FastifyInstance) => {
  const { prisma, env } = fastify.deps;
  fastify.decorateRequest("principal", null);

  const apiPrincipal = async (request: FastifyRequest): Promise<ApiPrincipal> => {
    const token = bearer(request);
    if (!token) throw new AppError(ErrorCode.UNAUTHORIZED, "missing bearer token; send 'Authorization: Bearer <token>'");
    const principal = await findApiToken(prisma, token);
    if (!principal) throw new AppError(ErrorCode.UNAUTHORIZED, "the bearer token is not valid (unknown or revoked)");
    request.principal = principal;
    return principal;
  };

  fastify.decorate("requireScope", (...scopes: ApiScope[]): preHandlerAsyncHookHandler => {
    const allowed = new Set<ApiScope>(["admin", ...scopes]);
    return async (request) => {
      const principal = await apiPrincipal(request);
      if (!principal.scopes.some((s) => allowed.has(s))) {
        throw new AppError(
          ErrorCode.FORBIDDEN,
          `this needs a token with scope ${[...allowed].join(" or ")}; the token has ${principal.scopes.join(", ") || "no scopes"}`,
        );
      }
    };
  });

  fastify.decorate("requireRead", async (request: FastifyRequest) => {
    if (env.HIL_PUBLIC_READ && !request.headers.authorization) return;
    const principal = await apiPrincipal(request);
    if (principal.scopes.length === 0) throw new AppError(ErrorCode.FORBIDDEN, "the token has no scopes");
  });

  fastify.decorate("requireRunner", async (request: FastifyRequest) => {
    const token = bearer(request);
    if (!token) throw new AppError(ErrorCode.UNAUTHORIZED, "missing runner token; register the runner with `hil-runner register`");
    const principal = await findRunnerByToken(prisma, token);
    if (!principal)
      throw new AppError(ErrorCode.UNAUTHORIZED, "the runner token is not valid; register the runner again with a new registration token");
    request.principal = principal;
  });
});

export function runnerOf(request: FastifyRequest): RunnerPrincipal {
  const p = request.principal;
  if (!p || p.kind !== "runner") throw new AppError(ErrorCode.UNAUTHORIZED, "runner token required");
  return p;
}
