/**
 * Outgoing webhooks: other tools subscribe to finished runs. Each delivery is a JSON POST signed like GitHub's
 * (`X-Hil-Signature-256: sha256=<HMAC-SHA256 of the body with the subscription's secret>`), retried with a growing
 * delay until a 2xx or MAX_ATTEMPTS. Deliveries are rows, so they survive restarts.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { z } from "zod";
import type { Db } from "../db.ts";
import type { Env } from "../env.ts";
import { notFound } from "../errors.ts";
import { signBody } from "../github/signature.ts";
import type { SuiteCatalog } from "../suites.ts";
import { getRunResults } from "./runs.ts";

const MAX_ATTEMPTS = 6;
/** Retry n waits BASE_DELAY_MS * (2^n - 1) after the delivery was created: 0 s, 10 s, 30 s, 70 s, ... */
const BASE_DELAY_MS = 10_000;

export const CreateWebhookBody = z
  .object({
    url: z.url({ message: "url must be an http(s) URL" }).refine((u) => /^https?:\/\//.test(u), "url must start with http:// or https://"),
    secret: z.string().min(16, "secret must be at least 16 characters; omit it to get a generated one").optional(),
    projects: z.array(z.string().min(1)).default([]).describe("Only runs of these projects; empty: all projects"),
  })
  .strict();
export type CreateWebhookBody = z.infer<typeof CreateWebhookBody>;

export const WebhookView = z.object({
  id: z.string(),
  url: z.string(),
  projects: z.array(z.string()),
  active: z.boolean(),
  createdAt: z.string(),
});
export type WebhookView = z.infer<typeof WebhookView>;

const view = (w: { id: string; url: string; projects: string[]; active: boolean; createdAt: Date }): WebhookView => ({
  id: w.id,
  url: w.url,
  projects: w.projects,
  active: w.active,
  createdAt: w.createdAt.toISOString(),
});

/** Returns the secret once; it is never shown again. */
export async function createWebhook(db: Db, body: CreateWebhookBody): Promise<WebhookView & { secret: string }> {
  const secret = body.secret ?? randomBytes(32).toString("hex");
  const row = await db.outgoingWebhook.create({ data: { url: body.url, secret, projects: body.projects } });
  return { ...view(row), secret };
}

export async function listWebhooks(db: Db): Promise<WebhookView[]> {
  return (await db.outgoingWebhook.findMany({ orderBy: { createdAt: "asc" } })).map(view);
}

export async function deleteWebhook(db: Db, id: string): Promise<void> {
  const res = await db.outgoingWebhook.deleteMany({ where: { id } });
  if (res.count === 0) throw notFound("webhook", id);
}

/** Creates one pending delivery per matching subscription; repeating it changes nothing. */
export async function enqueueRunDeliveries(db: Db, runId: string, project: string): Promise<void> {
  const hooks = await db.outgoingWebhook.findMany({ where: { active: true } });
  const matching = hooks.filter((h) => h.projects.length === 0 || h.projects.includes(project));
  if (matching.length === 0) return;
  await db.outgoingDelivery.createMany({ data: matching.map((h) => ({ webhookId: h.id, runId })), skipDuplicates: true });
}

async function runPayload(db: Db, catalog: SuiteCatalog, env: Env, runId: string) {
  const run = await db.run.findUniqueOrThrow({ where: { id: runId }, include: { project: { select: { name: true } } } });
  const results = await getRunResults(db, catalog, runId);
  const counts = { pass: 0, fail: 0, error: 0, skip: 0, not_run: 0 };
  for (const r of results) counts[r.status] += 1;
  return {
    event: "run.finished",
    run: {
      id: run.id,
      project: run.project.name,
      status: run.status,
      trigger: run.trigger,
      ref: run.ref,
      createdAt: run.createdAt.toISOString(),
      finishedAt: run.finishedAt?.toISOString() ?? null,
      url: env.HIL_PUBLIC_URL ? `${env.HIL_PUBLIC_URL}/runs/${run.id}` : null,
    },
    counts,
    failures: results
      .filter((r) => r.status === "fail" || r.status === "error")
      .map((r) => ({ suite: r.suite, test: r.test, status: r.status, message: r.message ?? null })),
  };
}

export async function sendPendingDeliveries(db: Db, catalog: SuiteCatalog, env: Env, logger: Logger): Promise<void> {
  const pending = await db.outgoingDelivery.findMany({
    where: { deliveredAt: null, attempts: { lt: MAX_ATTEMPTS }, webhook: { active: true } },
    include: { webhook: true },
    orderBy: { createdAt: "asc" },
    take: 50,
  });
  for (const d of pending) {
    if (Date.now() - d.createdAt.getTime() < BASE_DELAY_MS * (2 ** d.attempts - 1)) continue;
    // Counting the attempt first claims it: an overlapping reporter tick sees a changed count and skips it.
    const claim = await db.outgoingDelivery.updateMany({
      where: { webhookId: d.webhookId, runId: d.runId, attempts: d.attempts, deliveredAt: null },
      data: { attempts: { increment: 1 } },
    });
    if (claim.count === 0) continue;
    const body = JSON.stringify(await runPayload(db, catalog, env, d.runId));
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(d.webhook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "tock-hil",
          "x-hil-event": "run.finished",
          "x-hil-delivery": `${d.webhookId}:${d.runId}`,
          "x-hil-signature-256": signBody(d.webhook.secret, body),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      await res.body?.cancel();
      if (!res.ok) error = `answered ${res.status}`;
    } catch (err) {
      error = (err as Error).message;
    }
    await db.outgoingDelivery.update({
      where: { webhookId_runId: { webhookId: d.webhookId, runId: d.runId } },
      data: { lastStatus: status, lastError: error, ...(error === null ? { deliveredAt: new Date() } : {}) },
    });
    if (error) logger.warn({ webhook: d.webhookId, runId: d.runId, url: d.webhook.url, error }, "outgoing webhook delivery failed");
  }
}
