/**
 * The API as a Fastify plugin. It never listens: server.ts owns the process (listen, signals, shutdown) and tests
 * build it directly and use inject(). Plugin order: external plugins, then our decorators, then routes.
 */
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyError, FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { PrismaClient } from "./db.ts";
import type { Env } from "./env.ts";
import { AppError, ErrorCode, isDatabaseUnavailable } from "./errors.ts";
import type { Orchestrator } from "./jobs/orchestrator.ts";
import type { SuiteCatalog } from "./suites.ts";
import { authPlugin } from "./plugins/auth.ts";
import { adminRoutes } from "./routes/admin.ts";
import { artifactRoutes } from "./routes/artifacts.ts";
import { healthRoutes } from "./routes/health.ts";
import { inventoryRoutes } from "./routes/inventory.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { runRoutes } from "./routes/runs.ts";
import { runnerRoutes } from "./routes/runner.ts";
import { boardAdminRoutes } from "./routes/boards-admin.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { logRoutes } from "./routes/logs.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { resultRoutes } from "./routes/results.ts";
import { tokenAdminRoutes } from "./routes/tokens-admin.ts";
import { githubPlugin } from "./github/plugin.ts";
import { githubRoutes } from "./routes/github.ts";
import { projectRoutes } from "./routes/projects.ts";
import type { WorkSignal } from "./work-signal.ts";

export type AppDeps = {
  env: Env;
  /** Suites runs can be planned from (their manifests); tests pass a fixed catalog. */
  suites: SuiteCatalog;
  prisma: PrismaClient;
  orchestrator: Orchestrator;
  workSignal: WorkSignal;
};

declare module "fastify" {
  interface FastifyInstance {
    deps: AppDeps;
  }
}

async function app(fastify: FastifyInstance, deps: AppDeps) {
  fastify.setValidatorCompiler(validatorCompiler);
  fastify.setSerializerCompiler(serializerCompiler);
  fastify.decorate("deps", deps);

  await fastify.register(swagger, {
    openapi: {
      info: {
        title: "Tock HIL orchestrator API",
        description: "Runs, results, runners and boards of the Tock hardware-in-the-loop lab, and the runner protocol.",
        version: "1",
      },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "API token (hil_admin_/hil_api_) or runner token (hil_runner_)" },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await fastify.register(swaggerUi, { routePrefix: "/docs" });

  fastify.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? "request";
      const problems = err.validation.map((v) => `${where}${v.instancePath ? v.instancePath.replaceAll("/", ".") : ""}: ${v.message}`);
      return reply.status(400).send({ error: { code: ErrorCode.VALIDATION, message: problems.join("; "), details: err.validation } });
    }
    if (err instanceof AppError) {
      if (err.statusCode >= 500) request.log.error({ err }, "request failed");
      return reply
        .status(err.statusCode)
        .send({ error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } });
    }
    const status = err.statusCode ?? 500;
    if (status < 500) {
      // Fastify's own 4xx (malformed JSON, body too large, wrong content type) carry useful messages.
      const code =
        status === 413
          ? ErrorCode.PAYLOAD_TOO_LARGE
          : status === 415 || status === 400
            ? ErrorCode.VALIDATION
            : (err.code ?? "BAD_REQUEST");
      return reply.status(status).send({ error: { code, message: err.message } });
    }
    if (isDatabaseUnavailable(err)) {
      // Not a bug of ours: Postgres restarted, failed over or cut the connection. The request's transaction went
      // with the connection, so it is safe to send again; runners retry 5xx with backoff.
      request.log.warn({ err, req: { method: request.method, url: request.url } }, "database unavailable");
      return reply
        .status(503)
        .header("retry-after", "1")
        .send({
          error: {
            code: ErrorCode.DATABASE_UNAVAILABLE,
            message: "the database is unavailable (connection lost or refused); retry shortly",
          },
        });
    }
    request.log.error({ err, req: { method: request.method, url: request.url } }, "unhandled error");
    return reply.status(500).send({ error: { code: "INTERNAL", message: "internal server error; the server log has the details" } });
  });
  fastify.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: ErrorCode.NOT_FOUND, message: `no route ${request.method} ${request.url}; see /docs for the API` } }),
  );

  await fastify.register(authPlugin);
  await fastify.register(healthRoutes);
  await fastify.register(runRoutes, { prefix: "/api/v1" });
  await fastify.register(inventoryRoutes, { prefix: "/api/v1" });
  await fastify.register(jobRoutes, { prefix: "/api/v1" });
  await fastify.register(artifactRoutes, { prefix: "/api/v1" });
  await fastify.register(adminRoutes, { prefix: "/api/v1" });
  await fastify.register(runnerRoutes, { prefix: "/api/v1/runner" });
  // Results, logs, lab statistics, token admin, metrics and the dashboard (issue 6).
  await fastify.register(resultRoutes, { prefix: "/api/v1" });
  await fastify.register(logRoutes, { prefix: "/api/v1" });
  await fastify.register(boardAdminRoutes, { prefix: "/api/v1" });
  await fastify.register(tokenAdminRoutes, { prefix: "/api/v1" });
  await fastify.register(metricsRoutes);
  await fastify.register(dashboardRoutes);
  // GitHub webhooks, projects, nightly schedules and reporting (issue 7, docs/github.md).
  await fastify.register(githubPlugin);
  await fastify.register(githubRoutes, { prefix: "/api/v1" });
  await fastify.register(projectRoutes, { prefix: "/api/v1" });
}

export default fp(app, { name: "tock-hil-api", fastify: "5.x" });
