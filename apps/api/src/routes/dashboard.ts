/**
 * The dashboard (static HTML + vanilla JS under src/dashboard/static, calling the REST API; no CDN, no build
 * step, so it works on an air-gapped lab network) and the BullMQ board at /admin/queues.
 */
import { join } from "node:path";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { FastifyAdapter } from "@bull-board/fastify";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { findApiToken } from "../services/tokens.ts";

const STATIC_DIR = join(import.meta.dirname, "../dashboard/static");

export const dashboardRoutes: FastifyPluginAsyncZod = async (fastify) => {
  fastify.get("/dashboard", { schema: { hide: true, response: { 302: z.null() } } }, async (_request, reply) =>
    reply.redirect("/dashboard/", 302),
  );
  await fastify.register(fastifyStatic, {
    root: STATIC_DIR,
    prefix: "/dashboard/",
    decorateReply: false,
    // Pages are tiny and change with deployments; revalidate instead of caching stale scripts.
    cacheControl: true,
    maxAge: 0,
  });
  await fastify.register(queueBoard);
};

/**
 * Bull Board needs a browser-friendly login, and browsers cannot send bearer headers on navigation: accept HTTP
 * Basic auth with an admin API token as the password (any user name), or a bearer header for scripts.
 */
async function queueBoard(fastify: FastifyInstance) {
  const { prisma, orchestrator } = fastify.deps;
  const deny = (reply: FastifyReply, status: 401 | 403, message: string) =>
    reply
      .status(status)
      .header("www-authenticate", 'Basic realm="hil admin: any user name, an admin API token as password", charset="UTF-8"')
      .send({ error: { code: status === 401 ? "UNAUTHORIZED" : "FORBIDDEN", message } });
  fastify.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? "";
    const basic = /^Basic\s+(\S+)$/i.exec(header);
    const bearer = /^Bearer\s+(\S+)$/i.exec(header);
    const token = basic ? Buffer.from(basic[1]!, "base64").toString("utf8").split(":").slice(1).join(":") : bearer?.[1];
    if (!token) return deny(reply, 401, "the queue board needs an admin API token (HTTP Basic password or Bearer)");
    const principal = await findApiToken(prisma, token);
    if (!principal) return deny(reply, 401, "the token is not valid (unknown or revoked)");
    if (!principal.scopes.includes("admin")) return deny(reply, 403, `the queue board needs an admin token; ${principal.name} is not one`);
  });
  const adapter = new FastifyAdapter();
  adapter.setBasePath("/admin/queues");
  // @bull-board/fastify pins its own copy of @bull-board/api one patch behind ours; the shapes are the same.
  const serverAdapter = adapter as unknown as Parameters<typeof createBullBoard>[0]["serverAdapter"];
  createBullBoard({ queues: [new BullMQAdapter(orchestrator.queue, { readOnlyMode: false })], serverAdapter });
  await fastify.register(adapter.registerPlugin(), { prefix: "/admin/queues" });
}
