/**
 * Typed HTTP client for the runner protocol. Responses are validated with the shared zod schemas. Network errors
 * and 5xx answers are retried with capped exponential backoff (the runner must ride out API restarts); 4xx
 * answers are final and surface as ApiError with the server's code and message.
 */
import {
  FinishAttemptResponse,
  HealthReportResponse,
  HeartbeatResponse,
  LeaseResponse,
  LogChunkResponse,
  RegisterRunnerResponse,
  SubmitResultsResponse,
  SyncBoardsResponse,
} from "@tock-hil/protocol";
import type { FinishAttemptBody, RunnerBoard, SubmittedResult } from "@tock-hil/protocol";
import type { z } from "zod";
// The listener-removing sleep: retries wait on the runner's lifetime signals, which must not collect a listener per retry.
import { sleep } from "./signals.ts";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export type RetryPolicy = { retries: number; baseDelayMs: number; maxDelayMs: number };

export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly retry: RetryPolicy = { retries: 8, baseDelayMs: 250, maxDelayMs: 5_000 },
    private readonly onRetry?: (info: { path: string; attempt: number; error: string; delayMs: number }) => void,
  ) {}

  private async request<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S | undefined,
    options: { body?: unknown; signal?: AbortSignal | undefined; timeoutMs?: number; retry?: RetryPolicy } = {},
  ): Promise<z.infer<S>> {
    const policy = options.retry ?? this.retry;
    for (let attempt = 0; ; attempt++) {
      let failure: string;
      try {
        const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
        const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
        const res = await fetch(new URL(path, this.baseUrl), {
          method,
          signal,
          headers: {
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          },
          ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        });
        if (res.ok) {
          if (!schema) return undefined as z.infer<S>;
          return schema.parse(await res.json());
        }
        const payload = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: unknown } };
        const err = new ApiError(
          res.status,
          payload.error?.code ?? `HTTP_${res.status}`,
          payload.error?.message ?? res.statusText,
          payload.error?.details,
        );
        if (res.status < 500) throw err;
        failure = `${res.status} ${err.message}`;
      } catch (err) {
        if (err instanceof ApiError) throw err;
        if (options.signal?.aborted) throw err;
        failure = (err as Error).message;
      }
      if (attempt >= policy.retries) throw new Error(`${method} ${path} failed after ${attempt + 1} tries: ${failure}`);
      const delayMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
      this.onRetry?.({ path, attempt: attempt + 1, error: failure, delayMs });
      await sleep(delayMs, options.signal);
    }
  }

  register(body: { registrationToken: string; name: string; hostname?: string; version?: string }) {
    return this.request("POST", "/api/v1/runner/register", RegisterRunnerResponse, {
      body,
      retry: { retries: 2, baseDelayMs: 500, maxDelayMs: 2000 },
    });
  }

  syncBoards(boards: RunnerBoard[], signal?: AbortSignal) {
    return this.request("PUT", "/api/v1/runner/boards", SyncBoardsResponse, {
      body: { boards },
      signal,
      retry: { retries: Infinity, baseDelayMs: 250, maxDelayMs: 5000 },
    });
  }

  heartbeat(attemptIds: string[], signal?: AbortSignal) {
    return this.request("POST", "/api/v1/runner/heartbeat", HeartbeatResponse, {
      body: { attemptIds },
      signal,
      retry: { retries: 0, baseDelayMs: 0, maxDelayMs: 0 },
      timeoutMs: 10_000,
    });
  }

  lease(waitMs: number, signal?: AbortSignal) {
    return this.request("POST", "/api/v1/runner/lease", LeaseResponse, { body: { waitMs }, signal, timeoutMs: waitMs + 15_000 });
  }

  async downloadArtifact(sha256: string, signal?: AbortSignal): Promise<Uint8Array> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(new URL(`/api/v1/runner/artifacts/${sha256}`, this.baseUrl), {
          headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
          signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(120_000)]) : AbortSignal.timeout(120_000),
        });
        if (res.ok) return new Uint8Array(await res.arrayBuffer());
        const payload = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
        const err = new ApiError(res.status, payload.error?.code ?? `HTTP_${res.status}`, payload.error?.message ?? res.statusText);
        if (res.status < 500 || attempt >= this.retry.retries) throw err;
      } catch (err) {
        if (err instanceof ApiError || signal?.aborted || attempt >= this.retry.retries) throw err;
      }
      await sleep(Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt), signal);
    }
  }

  uploadLog(attemptId: string, role: string, offset: number, data: Uint8Array, signal?: AbortSignal) {
    return this.request("POST", `/api/v1/runner/attempts/${attemptId}/logs`, LogChunkResponse, {
      body: { role, offset, data: Buffer.from(data).toString("base64") },
      signal,
    });
  }

  submitResults(attemptId: string, results: SubmittedResult[], signal?: AbortSignal) {
    return this.request("POST", `/api/v1/runner/attempts/${attemptId}/results`, SubmitResultsResponse, { body: { results }, signal });
  }

  /** Stores a file with the attempt (a capture, a flash log); `signal` bounds the upload and its retries. */
  async uploadAttemptArtifact(attemptId: string, name: string, mediaType: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    const qs = new URLSearchParams({ name, mediaType }).toString();
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(new URL(`/api/v1/runner/attempts/${attemptId}/artifacts?${qs}`, this.baseUrl), {
          method: "POST",
          headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), "content-type": "application/octet-stream" },
          body: bytes,
          signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(120_000)]) : AbortSignal.timeout(120_000),
        });
        if (res.ok) return;
        const payload = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
        const err = new ApiError(res.status, payload.error?.code ?? `HTTP_${res.status}`, payload.error?.message ?? res.statusText);
        if (res.status < 500 || attempt >= this.retry.retries) throw err;
      } catch (err) {
        if (err instanceof ApiError || signal?.aborted || attempt >= this.retry.retries) throw err;
      }
      await sleep(Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt), signal);
    }
  }

  reportHealth(board: string, body: { ok: boolean; message: string }) {
    return this.request("POST", `/api/v1/runner/boards/${encodeURIComponent(board)}/health`, HealthReportResponse, { body });
  }

  /**
   * Reports the end of an attempt. Retried until the API answers, however long it is down (with backoff capped at
   * 5 s, each retry reported through `onRetry`): a verdict thrown away would end the job as runner_lost or timeout
   * later. Only a 4xx (the attempt already ended, or is unknown) or `signal` ends the retrying.
   */
  finish(attemptId: string, body: FinishAttemptBody, signal?: AbortSignal) {
    return this.request("POST", `/api/v1/runner/attempts/${attemptId}/finish`, FinishAttemptResponse, {
      body,
      signal,
      retry: { retries: Infinity, baseDelayMs: 250, maxDelayMs: 5_000 },
    });
  }
}
