/**
 * `POST /api/v1/github/webhook`: GitHub's front door. The signature is checked over the raw bytes before anything
 * is parsed; deliveries are recorded by X-GitHub-Delivery, so a replay answers 200 and does nothing.
 */
import { ErrorBody } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError, ErrorCode } from "../errors.ts";
import { handleEvent } from "../github/events.ts";
import { eventSchemas, isHandledEvent } from "../github/payloads.ts";
import { verifySignature } from "../github/signature.ts";
import { claimDelivery, finishDelivery, getDelivery } from "../github/store.ts";

/** GitHub caps webhook payloads at 25 MB. */
const MAX_PAYLOAD_BYTES = 25 * 1024 * 1024;
const FORM = Symbol("form-encoded");

const WebhookResponse = z.object({
  delivery: z.string(),
  duplicate: z.boolean().describe("True when this delivery was processed before; nothing was done again"),
  outcome: z.string().describe("What the delivery did, one clause per project"),
  runIds: z.array(z.string()).describe("Runs this delivery queued"),
});

export const githubRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, env } = fastify.deps;

  // The signature covers the exact bytes GitHub sent, so JSON is kept raw here (this plugin's routes only).
  fastify.removeContentTypeParser("application/json");
  fastify.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: MAX_PAYLOAD_BYTES }, (_req, body, done) =>
    done(null, body),
  );
  fastify.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "buffer", bodyLimit: MAX_PAYLOAD_BYTES }, (_r, _b, done) =>
    done(null, FORM),
  );

  fastify.post(
    "/github/webhook",
    {
      bodyLimit: MAX_PAYLOAD_BYTES,
      schema: {
        tags: ["github"],
        summary: "GitHub webhook receiver (push, pull_request, merge_group, issue_comment, workflow_run, ping)",
        description:
          "Authenticated by X-Hub-Signature-256 (HMAC SHA-256 of the body with GITHUB_WEBHOOK_SECRET), not by a bearer token. " +
          "Configure the webhook with content type application/json.",
        security: [],
        headers: z.looseObject({
          "x-github-event": z.string({ message: "X-GitHub-Event header is required (GitHub sends it)" }).min(1),
          "x-github-delivery": z.string({ message: "X-GitHub-Delivery header is required (GitHub sends it)" }).min(1).max(100),
          "x-hub-signature-256": z.string().optional(),
        }),
        response: { 200: WebhookResponse, 400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const secret = env.GITHUB_WEBHOOK_SECRET;
      if (!secret) {
        throw new AppError(
          ErrorCode.NOT_READY,
          "GitHub webhooks are disabled: set GITHUB_WEBHOOK_SECRET to the webhook's secret and restart",
        );
      }
      if (request.body === FORM) {
        return reply.status(415).send({
          error: { code: ErrorCode.VALIDATION, message: "set the webhook's content type to application/json in its GitHub settings" },
        });
      }
      const raw = request.body;
      if (!Buffer.isBuffer(raw)) {
        return reply
          .status(415)
          .send({ error: { code: ErrorCode.VALIDATION, message: "send the payload as Content-Type: application/json" } });
      }
      const headers = request.headers;
      if (!verifySignature(secret, raw, headers["x-hub-signature-256"])) {
        request.log.warn({ delivery: headers["x-github-delivery"], event: headers["x-github-event"] }, "webhook signature mismatch");
        throw new AppError(
          ErrorCode.UNAUTHORIZED,
          "X-Hub-Signature-256 is missing or does not match the body; the webhook's secret must equal GITHUB_WEBHOOK_SECRET",
        );
      }
      const deliveryId = headers["x-github-delivery"];
      const event = headers["x-github-event"];
      let json: unknown;
      try {
        json = JSON.parse(raw.toString("utf8"));
      } catch {
        throw new AppError(ErrorCode.VALIDATION, "the body is not valid JSON");
      }
      if (!isHandledEvent(event)) {
        return { delivery: deliveryId, duplicate: false, outcome: `ignored: event ${event} is not handled`, runIds: [] };
      }
      const parsed = eventSchemas[event].safeParse(json);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
        throw new AppError(ErrorCode.VALIDATION, `not a ${event} payload GitHub would send: ${problems}`);
      }
      const payload = parsed.data as { action?: string; repository?: { full_name: string } };
      const log = request.log.child({ delivery: deliveryId, event, action: payload.action, repository: payload.repository?.full_name });
      if (!(await claimDelivery(prisma, { deliveryId, event, action: payload.action, repository: payload.repository?.full_name }))) {
        const seen = await getDelivery(prisma, deliveryId);
        log.info("webhook delivery replayed; nothing to do");
        return { delivery: deliveryId, duplicate: true, outcome: seen?.outcome ?? "being processed", runIds: [] };
      }
      try {
        const out = await handleEvent(fastify.github, event, parsed.data);
        const outcome = out.messages.join("; ") || "nothing to do";
        await finishDelivery(prisma, deliveryId, "processed", outcome);
        log.info({ outcome, runIds: out.runIds }, "webhook delivery processed");
        return { delivery: deliveryId, duplicate: false, outcome, runIds: out.runIds };
      } catch (err) {
        log.error({ err }, "webhook delivery failed");
        await finishDelivery(prisma, deliveryId, "failed", (err as Error).message).catch(() => undefined);
        // 503 tells GitHub it failed; "Redeliver" processes it again since it was recorded as failed.
        throw new AppError(ErrorCode.NOT_READY, `processing the delivery failed (${(err as Error).message}); redeliver it from GitHub`);
      }
    },
  );
};
