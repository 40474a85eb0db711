/**
 * The API side of the runner protocol as a small real HTTP server, for tests of the runner agent that need exact
 * control over the API: when it hands out a lease, how slowly it answers, when it is down (connections refused),
 * and when it says an attempt is over. Request bodies are validated with the protocol's own schemas, so the runner
 * is held to the real contract. (The mirror image of apps/api/test/helpers/fake-runner.ts; the real API and its
 * database are used in hardware-runner.int.test.ts and apps/api's end-to-end tests.)
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { FinishAttemptBody, HeartbeatBody, LeaseBody, LogChunkBody, SubmitResultsBody, SyncBoardsBody } from "@tock-hil/protocol";
import type { Lease, SubmittedResult } from "@tock-hil/protocol";
import type { z } from "zod";

type Waiter = { resolve: (lease: Lease | null) => void };

export class FakeApi {
  /** What `PUT /runner/boards` tells the runner; short, so tests see cancellations quickly. */
  heartbeatIntervalMs = 100;
  /** Every heartbeat answer is held this long (a slow API). */
  heartbeatDelayMs = 0;
  /** Every log chunk answer is held this long. */
  logDelayMs = 0;
  /** Artifact downloads are held this long (Infinity: never answered). */
  artifactDelayMs = 0;

  readonly artifacts = new Map<string, Uint8Array>();
  readonly heartbeats: { at: number; attemptIds: string[] }[] = [];
  inFlightHeartbeats = 0;
  maxInFlightHeartbeats = 0;
  readonly results: { attemptId: string; result: SubmittedResult }[] = [];
  readonly finishes: { attemptId: string; body: FinishAttemptBody; at: number }[] = [];
  readonly captures: { attemptId: string; name: string }[] = [];
  readonly logs = new Map<string, number>();
  /** Attempts this API ended (cancelled), with when. */
  readonly ended = new Map<string, number>();
  /**
   * What heartbeat answers say about why: the reasons (`full`), nothing (`none`, an API older than the stop
   * reasons), a broken field (`malformed`), or that the API has no such attempt (`unknown`).
   */
  stopsAnswer: "full" | "none" | "malformed" | "unknown" = "full";
  readonly leased: { attemptId: string; at: number }[] = [];

  private readonly queue: Lease[] = [];
  private readonly waiting = new Set<Waiter>();
  private readonly sockets = new Set<Socket>();
  private server: http.Server;
  private port = 0;

  private constructor() {
    this.server = this.createServer();
  }

  static async start(): Promise<FakeApi> {
    const api = new FakeApi();
    await api.listen();
    return api;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Hands `lease` to the runner: to a lease request waiting now, or the next one. */
  offer(lease: Lease): void {
    const waiter = this.waiting.values().next().value;
    if (waiter) {
      this.waiting.delete(waiter);
      waiter.resolve(lease);
    } else this.queue.push(lease);
  }

  /** Whether a lease request is waiting (the runner is idle and polling). */
  get polling(): boolean {
    return this.waiting.size > 0;
  }

  /** Ends the attempt on the API side, as a cancellation does: heartbeats now tell the runner to stop it. */
  cancel(attemptId: string): void {
    this.ended.set(attemptId, performance.now());
  }

  /** Stops answering: the port refuses connections until `up()`. */
  async down(): Promise<void> {
    for (const w of this.waiting) w.resolve(null);
    this.waiting.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async up(): Promise<void> {
    this.server = this.createServer();
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  private async listen(port = 0) {
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private createServer(): http.Server {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.handle(req.method ?? "GET", req.url ?? "/", Buffer.concat(chunks)).then(
          ({ status, body }) => {
            if (res.destroyed) return;
            const payload = body instanceof Uint8Array ? body : JSON.stringify(body ?? {});
            res.writeHead(status, { "content-type": body instanceof Uint8Array ? "application/octet-stream" : "application/json" });
            res.end(payload);
          },
          (err: unknown) => {
            if (res.destroyed) return;
            res.writeHead(500, { "content-type": "application/json" });
            res.end(JSON.stringify({ error: { code: "INTERNAL", message: (err as Error).message } }));
          },
        );
      });
    });
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    return server;
  }

  private async handle(method: string, url: string, raw: Buffer): Promise<{ status: number; body?: unknown }> {
    const path = new URL(url, "http://x").pathname;
    const json = <S extends z.ZodType>(schema: S): z.infer<S> => schema.parse(raw.length ? JSON.parse(raw.toString("utf8")) : {});
    const refused = (status: number, code: string, message: string) => ({ status, body: { error: { code, message } } });
    const attempt = /^\/api\/v1\/runner\/attempts\/([^/]+)\/(\w+)$/.exec(path);
    try {
      if (method === "PUT" && path === "/api/v1/runner/boards") {
        const { boards } = json(SyncBoardsBody);
        return {
          status: 200,
          body: {
            boards: boards.map((b, i) => ({ id: `board-${i}`, name: b.name, type: b.type, health: "good" })),
            heartbeatIntervalMs: this.heartbeatIntervalMs,
            orphanedAttempts: [],
          },
        };
      }
      if (method === "POST" && path === "/api/v1/runner/heartbeat") {
        const { attemptIds } = json(HeartbeatBody);
        this.heartbeats.push({ at: performance.now(), attemptIds });
        this.inFlightHeartbeats++;
        this.maxInFlightHeartbeats = Math.max(this.maxInFlightHeartbeats, this.inFlightHeartbeats);
        try {
          if (this.heartbeatDelayMs > 0) await new Promise((r) => setTimeout(r, this.heartbeatDelayMs));
        } finally {
          this.inFlightHeartbeats--;
        }
        const cancel = attemptIds.filter((id) => this.ended.has(id));
        const answers = {
          full: {
            cancel,
            stops: cancel.map((attemptId) => ({
              attemptId,
              status: "cancelled",
              reason: "cancelled",
              message: "cancelled by api token tester",
            })),
          },
          none: { cancel },
          malformed: { cancel, stops: cancel.map((attemptId) => ({ attemptId, status: 7 })) },
          unknown: {
            cancel,
            stops: cancel.map((attemptId) => ({
              attemptId,
              status: "unknown",
              reason: null,
              message: `this runner has no attempt ${attemptId}`,
            })),
          },
        };
        return { status: 200, body: answers[this.stopsAnswer] };
      }
      if (method === "POST" && path === "/api/v1/runner/lease") {
        const { waitMs } = json(LeaseBody);
        const queued = this.queue.shift();
        const lease =
          queued ??
          (await new Promise<Lease | null>((resolve) => {
            const waiter: Waiter = {
              resolve: (l) => {
                clearTimeout(timer);
                resolve(l);
              },
            };
            const timer = setTimeout(() => {
              this.waiting.delete(waiter);
              resolve(null);
            }, waitMs);
            this.waiting.add(waiter);
          }));
        if (lease) this.leased.push({ attemptId: lease.attemptId, at: performance.now() });
        return { status: 200, body: { lease, healthCheck: null } };
      }
      const artifact = /^\/api\/v1\/runner\/artifacts\/([0-9a-f]{64})$/.exec(path);
      if (method === "GET" && artifact) {
        if (this.artifactDelayMs === Infinity) await new Promise(() => {});
        if (this.artifactDelayMs > 0) await new Promise((r) => setTimeout(r, this.artifactDelayMs));
        const bytes = this.artifacts.get(artifact[1]!);
        return bytes ? { status: 200, body: bytes } : refused(404, "NOT_FOUND", `artifact ${artifact[1]} does not exist`);
      }
      if (method === "POST" && attempt) {
        const [, id, action] = attempt as unknown as [string, string, string];
        if (action === "logs") {
          const chunk = json(LogChunkBody);
          if (this.logDelayMs > 0) await new Promise((r) => setTimeout(r, this.logDelayMs));
          const key = `${id}/${chunk.role}`;
          const size = Math.max(this.logs.get(key) ?? 0, chunk.offset + Buffer.from(chunk.data, "base64").length);
          this.logs.set(key, size);
          return { status: 200, body: { size } };
        }
        if (action === "results") {
          const { results } = json(SubmitResultsBody);
          if (this.ended.has(id)) return refused(409, "ATTEMPT_NOT_RUNNING", `attempt ${id} is cancelled (cancelled); stop working on it`);
          for (const result of results) this.results.push({ attemptId: id, result });
          return { status: 200, body: { recorded: results.length } };
        }
        if (action === "artifacts") {
          this.captures.push({ attemptId: id, name: new URL(url, "http://x").searchParams.get("name") ?? "" });
          return { status: 201, body: {} };
        }
        if (action === "finish") {
          const body = json(FinishAttemptBody);
          this.finishes.push({ attemptId: id, body, at: performance.now() });
          if (this.ended.has(id) && body.status !== "cancelled")
            return refused(409, "ATTEMPT_NOT_RUNNING", `attempt ${id} already ended as cancelled (cancelled)`);
          // As the real API: a runner's `cancelled` only acknowledges a cancellation the API made.
          if (!this.ended.has(id) && body.status === "cancelled")
            return refused(409, "CONFLICT", `attempt ${id} is running: only the API cancels an attempt`);
          return {
            status: 200,
            body: { jobStatus: body.status === "completed" ? "passed" : body.status === "cancelled" ? "cancelled" : "error" },
          };
        }
      }
      return refused(404, "NOT_FOUND", `no route ${method} ${path}`);
    } catch (err) {
      return refused(400, "VALIDATION", (err as Error).message);
    }
  }
}
