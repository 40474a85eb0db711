/**
 * Serial logs beyond the lead's range read (GET /attempts/:id/logs/:role): a job's boards merged on one clock,
 * and live tails as Server-Sent Events. SSE rather than WebSocket: one-way, works through plain HTTP proxies,
 * reconnects by itself in browsers, and needs no extra dependency. Chunks are polled from Postgres, the source of
 * truth, so a tail works on any API process whichever one received the upload.
 */
import { StringDecoder } from "node:string_decoder";
import { ErrorBody, MergedLog } from "@tock-hil/protocol";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { attemptRunning, decodeLogCursor, jobAttempt, logSize, readMergedLog } from "../services/logs.ts";
import { readLogRange } from "../services/runner-protocol.ts";

const JobParams = z.object({ id: z.uuid({ message: "job id must be a UUID" }) });
const MergedQuery = z.object({
  attempt: z.coerce.number().int().min(1).optional().describe("Attempt number; default: the newest"),
  cursor: z.string().max(4000).optional().describe("Continue after a previous response (its `cursor`)"),
});

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

export const logRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, env } = fastify.deps;
  // Open tails end when the server closes; otherwise close() would wait for browsers to hang up.
  const open = new Set<AbortController>();
  fastify.addHook("preClose", async () => {
    for (const c of open) c.abort();
  });

  /** Starts an SSE response and returns a writer and a signal aborted when the client leaves or the server stops. */
  const startSse = (request: FastifyRequest, reply: FastifyReply) => {
    const controller = new AbortController();
    open.add(controller);
    reply.hijack();
    reply.raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    request.raw.on("close", () => controller.abort());
    const send = (event: string, data: unknown) => {
      if (!controller.signal.aborted) reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const end = () => {
      open.delete(controller);
      if (!reply.raw.writableEnded) reply.raw.end();
    };
    return { send, end, signal: controller.signal };
  };

  fastify.get(
    "/jobs/:id/logs",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["logs"],
        summary: "Serial logs of every board of a job attempt, merged into lines on the API's receive clock",
        params: JobParams,
        querystring: MergedQuery,
        response: { 200: MergedLog, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => readMergedLog(prisma, request.params.id, request.query),
  );

  fastify.get(
    "/jobs/:id/logs/tail",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["logs"],
        summary:
          "Live merged serial log (text/event-stream): `lines` events {lines, cursor}, `attempt` when a new attempt starts, `end` when done",
        params: JobParams,
        querystring: MergedQuery,
      },
    },
    async (request, reply) => {
      // Validate before switching to a stream, so mistakes are still JSON 4xx.
      decodeLogCursor(request.query.cursor);
      await jobAttempt(prisma, request.params.id, request.query.attempt);
      const sse = startSse(request, reply);
      const pinned = request.query.attempt;
      let cursor = request.query.cursor;
      let current: number | undefined;
      const jobFinal = async () => {
        const job = await prisma.job.findUnique({ where: { id: request.params.id }, select: { status: true } });
        return !job || (job.status !== "queued" && job.status !== "running");
      };
      try {
        while (!sse.signal.aborted) {
          const log = await readMergedLog(prisma, request.params.id, { attempt: pinned, cursor });
          if (log.attempt !== current) {
            const restarted = current !== undefined;
            current = log.attempt;
            sse.send("attempt", { attempt: log.attempt, attemptId: log.attemptId });
            // A retry started: the cursor belonged to the previous attempt, so read the new one from its start.
            if (restarted) {
              cursor = undefined;
              continue;
            }
          }
          if (log.lines.length > 0) sse.send("lines", { lines: log.lines, cursor: log.cursor });
          cursor = log.cursor;
          const idle = log.attemptId === null || (!log.running && log.lines.length === 0);
          if (idle && (pinned !== undefined || (await jobFinal()))) break;
          await sleep(env.HIL_LOG_TAIL_POLL_MS, sse.signal);
        }
        sse.send("end", {});
      } catch (err) {
        request.log.warn({ err }, "log tail stopped");
        sse.send("error", { message: "the log tail stopped on a server error; reconnect with the last cursor" });
      } finally {
        sse.end();
      }
    },
  );

  fastify.get(
    "/attempts/:id/logs/:role/tail",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["logs"],
        summary: "Live serial log of one board (text/event-stream): `data` events {offset, text}, then `end` when the attempt ended",
        params: z.object({ id: z.uuid({ message: "attempt id must be a UUID" }), role: z.string().min(1).max(100) }),
        querystring: z.object({ from: z.coerce.number().int().min(0).default(0).describe("Start at this byte offset") }),
      },
    },
    async (request, reply) => {
      const { id, role } = request.params;
      await attemptRunning(prisma, id);
      const sse = startSse(request, reply);
      const decoder = new StringDecoder("utf8");
      let offset = request.query.from;
      try {
        while (!sse.signal.aborted) {
          const running = await attemptRunning(prisma, id);
          const size = await logSize(prisma, id, role);
          if (size > offset) {
            const bytes = await readLogRange(prisma, id, role, offset, size);
            sse.send("data", { offset, text: decoder.write(bytes) });
            offset += bytes.length;
          } else if (!running) {
            break;
          }
          await sleep(env.HIL_LOG_TAIL_POLL_MS, sse.signal);
        }
        sse.send("end", { size: offset });
      } catch (err) {
        request.log.warn({ err }, "log tail stopped");
        sse.send("error", { message: "the log tail stopped on a server error; reconnect with from=<last offset>" });
      } finally {
        sse.end();
      }
    },
  );
};
