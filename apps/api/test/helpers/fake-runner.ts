/**
 * A runner that speaks the real HTTP protocol but runs no boards: for scheduler tests and benchmarks that need
 * many runners and exact control over job durations. (The real `hil-runner` is used wherever boards matter.)
 */
import http from "node:http";
import { HeartbeatResponse, LeaseResponse, RegisterRunnerResponse } from "@tock-hil/protocol";
import type { FinishAttemptBody, Lease, SubmittedResult } from "@tock-hil/protocol";
import type { z } from "zod";

/**
 * Plain node:http with keep-alive rather than fetch: the benchmarks run fifty of these beside the API on two
 * cores, and fetch costs several times more CPU per request, which would be measured as the API's cost.
 */
const agent = new http.Agent({ keepAlive: true });

async function send<S extends z.ZodType>(
  method: string,
  base: string,
  path: string,
  token: string | undefined,
  body: unknown,
  schema?: S,
): Promise<z.infer<S>> {
  const payload = JSON.stringify(body);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (data += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: data }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
  if (status < 200 || status >= 300) throw new Error(`${path} -> ${status} ${text}`);
  return schema ? schema.parse(JSON.parse(text)) : (undefined as z.infer<S>);
}

export class FakeRunner {
  private constructor(
    readonly base: string,
    readonly name: string,
    readonly token: string,
    readonly boards: string[],
  ) {}

  /** Registers with a fresh registration token, announces `boards` of `type`, and passes their health checks. */
  static async create(
    base: string,
    adminToken: string,
    name: string,
    boards: { name: string; type: string; group?: string }[],
  ): Promise<FakeRunner> {
    const reg = await fetch(`${base}/api/v1/registration-tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: "{}",
    }).then((r) => r.json() as Promise<{ token: string }>);
    const { token } = await send(
      "POST",
      base,
      "/api/v1/runner/register",
      undefined,
      { registrationToken: reg.token, name },
      RegisterRunnerResponse,
    );
    await send("PUT", base, "/api/v1/runner/boards", token, { boards: boards.map((b) => ({ tags: [], ...b })) });
    for (const b of boards) await send("POST", base, `/api/v1/runner/boards/${b.name}/health`, token, { ok: true, message: "fake runner" });
    return new FakeRunner(
      base,
      name,
      token,
      boards.map((b) => b.name),
    );
  }

  /** The same runner (same token) speaking to another API process. */
  via(base: string): FakeRunner {
    return new FakeRunner(base, this.name, this.token, this.boards);
  }

  async lease(waitMs = 2000): Promise<Lease | null> {
    const res = await send("POST", this.base, "/api/v1/runner/lease", this.token, { waitMs }, LeaseResponse);
    if (res.healthCheck) {
      await send("POST", this.base, `/api/v1/runner/boards/${res.healthCheck.board}/health`, this.token, {
        ok: true,
        message: "fake runner",
      });
      return null;
    }
    return res.lease;
  }

  results(attemptId: string, results: SubmittedResult[]) {
    return send("POST", this.base, `/api/v1/runner/attempts/${attemptId}/results`, this.token, { results });
  }

  finish(attemptId: string, body: FinishAttemptBody = { status: "completed", reason: "completed" }) {
    return send("POST", this.base, `/api/v1/runner/attempts/${attemptId}/finish`, this.token, body);
  }

  heartbeat(attemptIds: string[]) {
    return send("POST", this.base, "/api/v1/runner/heartbeat", this.token, { attemptIds }, HeartbeatResponse);
  }
}
