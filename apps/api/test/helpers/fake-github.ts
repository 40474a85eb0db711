/**
 * A local stand-in for the GitHub REST API (node:http), pointed at by GITHUB_API_URL. It serves only the endpoints
 * the integration calls, checks authentication the way GitHub does (App JWT signed RS256 for installation tokens,
 * installation or configured token for repository endpoints) and records every request so tests can assert on
 * what was reported.
 */
import { generateKeyPairSync, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";

export type RecordedRequest = { method: string; path: string; body: unknown; authorization: string | undefined };
export type FakeIssue = { number: number; title: string; body: string; state: "open" | "closed"; comments: string[] };
export type FakePull = {
  number: number;
  head: { sha: string; ref: string; repo: { full_name: string } };
  base: { sha: string; ref: string; repo: { full_name: string } };
};

export class FakeGithub {
  readonly requests: RecordedRequest[] = [];
  /** `owner/repo:branch` -> head sha */
  readonly branches = new Map<string, string>();
  /** `base...head` -> changed files */
  readonly compares = new Map<string, string[]>();
  /** login -> permission (admin | maintain | write | read); unknown users are not collaborators (404). */
  readonly permissions = new Map<string, string>();
  readonly pulls = new Map<number, FakePull>();
  readonly checkRuns = new Map<number, Record<string, unknown>>();
  readonly statuses: { sha: string; body: Record<string, unknown> }[] = [];
  readonly issues = new Map<number, FakeIssue>();
  private readonly issuedTokens = new Set<string>();
  private nextId = 1;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    /** Verifies App JWTs; the matching private key is `privateKeyPem`. */
    private readonly publicKey: KeyObject,
    readonly privateKeyPem: string,
    /** A plain token accepted on repository endpoints (GITHUB_TOKEN mode). */
    readonly token: string,
  ) {}

  static async start(): Promise<FakeGithub> {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const ref: { fake?: FakeGithub } = {};
    const server = createServer((req, res) => void ref.fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (!address || typeof address === "string") throw new Error("fake GitHub did not bind");
    ref.fake = new FakeGithub(server, `http://127.0.0.1:${address.port}`, publicKey, pem, "ghp_fake_plain_token");
    return ref.fake;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Requests whose method matches and path matches the regular expression. */
  find(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  private verifyJwt(authorization: string | undefined): boolean {
    const jwt = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
    const [h, p, s] = jwt?.split(".") ?? [];
    if (!h || !p || !s) return false;
    const header = JSON.parse(Buffer.from(h, "base64url").toString());
    const payload = JSON.parse(Buffer.from(p, "base64url").toString());
    const now = Math.floor(Date.now() / 1000);
    if (header.alg !== "RS256" || payload.exp <= now || payload.exp - payload.iat > 660) return false;
    return verify("RSA-SHA256", Buffer.from(`${h}.${p}`), this.publicKey, Buffer.from(s, "base64url"));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    const body = text ? JSON.parse(text) : undefined;
    const path = decodeURIComponent(new URL(req.url ?? "/", this.url).pathname);
    const method = req.method ?? "GET";
    const authorization = req.headers.authorization;
    this.requests.push({ method, path, body, authorization });
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    };

    if (/^\/app\/installations\/(\d+)\/access_tokens$/.test(path) && method === "POST") {
      if (!this.verifyJwt(authorization)) return send(401, { message: "A JSON web token could not be decoded" });
      const token = `ghs_fake_${this.nextId++}`;
      this.issuedTokens.add(token);
      return send(201, { token, expires_at: new Date(Date.now() + 3600_000).toISOString() });
    }
    if (/^\/repos\/([^/]+\/[^/]+)\/installation$/.test(path)) {
      if (!this.verifyJwt(authorization)) return send(401, { message: "A JSON web token could not be decoded" });
      return send(200, { id: 4242 });
    }
    const repoMatch = /^\/repos\/([^/]+\/[^/]+)(\/.*)$/.exec(path);
    if (!repoMatch) return send(404, { message: "Not Found" });
    const bearer = /^Bearer (.+)$/.exec(authorization ?? "")?.[1] ?? "";
    if (!this.issuedTokens.has(bearer) && bearer !== this.token) return send(401, { message: "Bad credentials" });
    const repo = repoMatch[1]!;
    const rest = repoMatch[2]!;
    let m: RegExpExecArray | null;

    if ((m = /^\/compare\/([^.]+)\.\.\.(.+)$/.exec(rest)) && method === "GET") {
      const files = this.compares.get(`${m[1]}...${m[2]}`) ?? [];
      return send(200, { status: "ahead", files: files.map((filename) => ({ filename, status: "modified" })) });
    }
    if ((m = /^\/pulls\/(\d+)$/.exec(rest)) && method === "GET") {
      const pr = this.pulls.get(Number(m[1]));
      return pr ? send(200, pr) : send(404, { message: "Not Found" });
    }
    if ((m = /^\/collaborators\/([^/]+)\/permission$/.exec(rest)) && method === "GET") {
      const permission = this.permissions.get(m[1]!);
      return permission ? send(200, { permission, user: { login: m[1] } }) : send(404, { message: "Not a collaborator" });
    }
    if ((m = /^\/branches\/(.+)$/.exec(rest)) && method === "GET") {
      const sha = this.branches.get(`${repo}:${m[1]}`);
      return sha ? send(200, { name: m[1], commit: { sha } }) : send(404, { message: "Branch not found" });
    }
    if (rest === "/check-runs" && method === "POST") {
      const id = this.nextId++;
      this.checkRuns.set(id, body);
      return send(201, { id, ...body });
    }
    if ((m = /^\/check-runs\/(\d+)$/.exec(rest)) && method === "PATCH") {
      const id = Number(m[1]);
      const existing = this.checkRuns.get(id);
      if (!existing) return send(404, { message: "Not Found" });
      this.checkRuns.set(id, { ...existing, ...body });
      return send(200, { id, ...existing, ...body });
    }
    if ((m = /^\/statuses\/([0-9a-f]+)$/.exec(rest)) && method === "POST") {
      this.statuses.push({ sha: m[1]!, body });
      return send(201, body);
    }
    if (rest === "/issues" && method === "POST") {
      const number = this.issues.size + 1;
      this.issues.set(number, { number, title: body.title, body: body.body, state: "open", comments: [] });
      return send(201, { number });
    }
    if ((m = /^\/issues\/(\d+)\/comments$/.exec(rest)) && method === "POST") {
      const issue = this.issues.get(Number(m[1]));
      if (!issue) return send(404, { message: "Not Found" });
      issue.comments.push(body.body);
      return send(201, { id: this.nextId++ });
    }
    if ((m = /^\/issues\/(\d+)$/.exec(rest)) && method === "PATCH") {
      const issue = this.issues.get(Number(m[1]));
      if (!issue) return send(404, { message: "Not Found" });
      if (body.state) issue.state = body.state;
      return send(200, issue);
    }
    return send(404, { message: "Not Found" });
  }
}
