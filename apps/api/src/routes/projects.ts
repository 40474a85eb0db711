/** Projects (repositories, suites, path filters, nightly schedule) and outgoing webhook subscriptions. */
import { ErrorBody } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { fireNightly } from "../services/nightly.ts";
import { CreateWebhookBody, WebhookView, createWebhook, deleteWebhook, listWebhooks } from "../services/notifications.ts";
import {
  CreateProjectBody,
  ProjectView,
  UpdateProjectBody,
  createProject,
  deleteProject,
  getProject,
  listProjects,
  projectView,
  updateProject,
} from "../services/projects.ts";

const NameParams = z.object({ name: z.string().min(1).max(100) });

const NightlyResult = z.discriminatedUnion("status", [
  z.object({ status: z.literal("queued"), runId: z.string(), sha: z.string().nullable() }),
  z.object({ status: z.literal("skipped"), reason: z.string() }),
  z.object({ status: z.literal("failed"), reason: z.string() }),
]);

export const projectRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, suites } = fastify.deps;

  fastify.get(
    "/projects",
    {
      preHandler: fastify.requireRead,
      schema: { tags: ["projects"], summary: "List projects", response: { 200: z.object({ projects: z.array(ProjectView) }) } },
    },
    async () => ({ projects: (await listProjects(prisma)).map(projectView) }),
  );

  fastify.post(
    "/projects",
    {
      preHandler: fastify.requireScope("admin"),
      schema: {
        tags: ["projects"],
        summary: "Create a project",
        body: CreateProjectBody,
        response: { 201: ProjectView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const project = await createProject(prisma, suites, request.body);
      await fastify.github.syncSchedules();
      request.log.info({ project: project.name }, "project created");
      return reply.status(201).send(projectView(project));
    },
  );

  fastify.get(
    "/projects/:name",
    {
      preHandler: fastify.requireRead,
      schema: { tags: ["projects"], params: NameParams, response: { 200: ProjectView, 404: ErrorBody } },
    },
    async (request) => projectView(await getProject(prisma, request.params.name)),
  );

  fastify.patch(
    "/projects/:name",
    {
      preHandler: fastify.requireScope("admin"),
      schema: {
        tags: ["projects"],
        summary: "Change a project (only the fields given)",
        params: NameParams,
        body: UpdateProjectBody,
        response: { 200: ProjectView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const project = await updateProject(prisma, suites, request.params.name, request.body);
      await fastify.github.syncSchedules();
      return projectView(project);
    },
  );

  fastify.delete(
    "/projects/:name",
    {
      preHandler: fastify.requireScope("admin"),
      schema: {
        tags: ["projects"],
        summary: "Delete a project; one with runs needs ?deleteRuns=true (its runs and results go with it)",
        params: NameParams,
        querystring: z.object({ deleteRuns: z.enum(["true", "false"]).default("false") }),
        response: { 204: z.null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      await deleteProject(prisma, request.params.name, request.query.deleteRuns === "true");
      await fastify.github.syncSchedules();
      return reply.status(204).send(null);
    },
  );

  fastify.post(
    "/projects/:name/nightly",
    {
      preHandler: fastify.requireScope("trigger"),
      schema: {
        tags: ["projects"],
        summary: "Fire the project's nightly now (skipped when its branch has not moved, unless force is true)",
        params: NameParams,
        body: z
          .object({ force: z.boolean().default(false) })
          .strict()
          .default({ force: false }),
        response: { 200: NightlyResult, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      await getProject(prisma, request.params.name);
      return fireNightly(fastify.github, request.params.name, request.body.force);
    },
  );

  fastify.get(
    "/webhooks",
    {
      preHandler: fastify.requireScope("admin"),
      schema: { tags: ["webhooks"], summary: "List outgoing webhooks", response: { 200: z.object({ webhooks: z.array(WebhookView) }) } },
    },
    async () => ({ webhooks: await listWebhooks(prisma) }),
  );

  fastify.post(
    "/webhooks",
    {
      preHandler: fastify.requireScope("admin"),
      schema: {
        tags: ["webhooks"],
        summary: "Subscribe a URL to finished runs (JSON signed with X-Hil-Signature-256); the secret is shown once",
        body: CreateWebhookBody,
        response: { 201: WebhookView.extend({ secret: z.string() }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => reply.status(201).send(await createWebhook(prisma, request.body)),
  );

  fastify.delete(
    "/webhooks/:id",
    {
      preHandler: fastify.requireScope("admin"),
      schema: {
        tags: ["webhooks"],
        params: z.object({ id: z.uuid({ message: "webhook id must be a UUID" }) }),
        response: { 204: z.null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await deleteWebhook(prisma, request.params.id);
      return reply.status(204).send(null);
    },
  );
};
