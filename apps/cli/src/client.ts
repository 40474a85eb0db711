/**
 * The CLI's only door to the lab: the REST API. Every JSON response is validated with the shared protocol schema,
 * so a CLI and server that drifted apart fail with a clear message instead of printing nonsense.
 */
import type { z } from "zod";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export type ClientOptions = { url: string; token?: string | undefined };

export class Client {
  constructor(private readonly options: ClientOptions) {}

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(new URL(path, this.options.url), {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new ApiError(0, `cannot reach the API at ${this.options.url} (${(err as Error).message}); set --url or HIL_URL`);
    }
    if (!res.ok) {
      const text = await res.text();
      let message = `${res.status} ${res.statusText}`;
      try {
        message = (JSON.parse(text) as { error: { message: string } }).error.message;
      } catch {
        // not our JSON error body; keep the status line
      }
      if (res.status === 401 && !this.options.token) message += " (set --token or HIL_TOKEN)";
      throw new ApiError(res.status, message);
    }
    return res;
  }

  async json<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const res = await this.request(method, path, body);
    const parsed = schema.safeParse(await res.json());
    if (!parsed.success)
      throw new ApiError(res.status, `unexpected response from ${path}; is the CLI the same version as the API? ${parsed.error.message}`);
    return parsed.data;
  }

  async text(method: string, path: string): Promise<string> {
    return (await this.request(method, path)).text();
  }

  async send(method: string, path: string, body?: unknown): Promise<void> {
    await this.request(method, path, body);
  }
}
