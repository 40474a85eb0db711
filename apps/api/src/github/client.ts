/**
 * A small GitHub REST client for the endpoints the integration uses, and nothing else. Two ways to authenticate:
 * a GitHub App (a JWT signed RS256 with the App's key is exchanged for a per-installation token, cached until
 * shortly before it expires), which can create Check Runs; or a plain token, which reports commit statuses.
 * GITHUB_API_URL points it at GitHub Enterprise or a test server.
 */
import { createPrivateKey, sign } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { Env } from "../env.ts";

export class GithubApiError extends Error {
  readonly status: number;
  constructor(method: string, path: string, status: number, body: string) {
    super(`GitHub ${method} ${path} answered ${status}: ${body.slice(0, 300)}`);
    this.name = "GithubApiError";
    this.status = status;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export type GithubAuth = { kind: "app"; appId: number; privateKey: KeyObject } | { kind: "token"; token: string };

export type GithubClientOptions = { apiUrl: string; auth: GithubAuth; logger: Logger; timeoutMs?: number };

/** Permissions that may approve a fork pull request with `/hil run`. */
const WRITE_PERMISSIONS = new Set(["admin", "maintain", "write"]);

/** The compare API lists at most 300 files; a change that big is treated as touching everything. */
const COMPARE_FILE_LIMIT = 300;

export type CheckRunBody = {
  name: string;
  head_sha?: string;
  status: "queued" | "in_progress" | "completed";
  conclusion?: "success" | "failure" | "neutral" | "cancelled" | "action_required";
  details_url?: string;
  external_id?: string;
  output?: { title: string; summary: string; text?: string };
};

export class GithubClient {
  readonly mode: "app" | "token";
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  private readonly installations = new Map<string, number>();

  constructor(private readonly options: GithubClientOptions) {
    this.mode = options.auth.kind;
  }

  /** The App's JWT: valid 9 minutes, backdated 60 s against clock drift (GitHub allows at most 10 minutes). */
  appJwt(): string {
    const auth = this.options.auth;
    if (auth.kind !== "app") throw new Error("appJwt needs a GitHub App (GITHUB_APP_ID)");
    const now = Math.floor(Date.now() / 1000);
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const unsigned = `${part({ alg: "RS256", typ: "JWT" })}.${part({ iat: now - 60, exp: now + 540, iss: String(auth.appId) })}`;
    return `${unsigned}.${sign("RSA-SHA256", Buffer.from(unsigned), auth.privateKey).toString("base64url")}`;
  }

  /** A token that may act on `repo`: the configured token, or the App installation's (looked up once per repo). */
  private async tokenFor(repo: string, installationId?: number): Promise<string> {
    const auth = this.options.auth;
    if (auth.kind === "token") return auth.token;
    let id = installationId ?? this.installations.get(repo.toLowerCase());
    if (id === undefined) {
      const installation = await this.send<{ id: number }>("GET", `/repos/${repo}/installation`, `Bearer ${this.appJwt()}`);
      id = installation.id;
    }
    this.installations.set(repo.toLowerCase(), id);
    const cached = this.tokens.get(String(id));
    // Renew five minutes early so a token never expires in the middle of a report.
    if (cached && cached.expiresAt - Date.now() > 5 * 60_000) return cached.token;
    const minted = await this.send<{ token: string; expires_at: string }>(
      "POST",
      `/app/installations/${id}/access_tokens`,
      `Bearer ${this.appJwt()}`,
    );
    this.tokens.set(String(id), { token: minted.token, expiresAt: Date.parse(minted.expires_at) });
    return minted.token;
  }

  /** Remembers the installation a webhook came from, saving a lookup when reporting on that repository. */
  rememberInstallation(repo: string, installationId: number | undefined): void {
    if (installationId !== undefined) this.installations.set(repo.toLowerCase(), installationId);
  }

  private async send<T>(method: string, path: string, authorization: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.options.apiUrl}${path}`, {
      method,
      headers: {
        accept: "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
        "user-agent": "tock-hil",
        authorization,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
    });
    const text = await res.text();
    if (!res.ok) throw new GithubApiError(method, path, res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async request<T>(method: string, repo: string, path: string, body?: unknown): Promise<T> {
    const token = await this.tokenFor(repo);
    return this.send<T>(method, `/repos/${repo}${path}`, `Bearer ${token}`, body);
  }

  /** Files changed between two commits; null when GitHub truncates the list (the caller then runs everything). */
  async changedFiles(repo: string, base: string, head: string): Promise<string[] | null> {
    const res = await this.request<{ files?: { filename: string; previous_filename?: string }[] }>(
      "GET",
      repo,
      `/compare/${encodeURIComponent(base)}...${encodeURIComponent(head)}`,
    );
    const files = res.files ?? [];
    if (files.length >= COMPARE_FILE_LIMIT) return null;
    return files.flatMap((f) => (f.previous_filename ? [f.filename, f.previous_filename] : [f.filename]));
  }

  async pullRequest(repo: string, number: number) {
    return this.request<{
      number: number;
      head: { sha: string; ref: string; repo: { full_name: string } | null };
      base: { sha: string; ref: string; repo: { full_name: string } };
      labels?: { name: string }[];
    }>("GET", repo, `/pulls/${number}`);
  }

  async canApprove(repo: string, user: string): Promise<boolean> {
    try {
      const res = await this.request<{ permission: string }>("GET", repo, `/collaborators/${encodeURIComponent(user)}/permission`);
      return WRITE_PERMISSIONS.has(res.permission);
    } catch (err) {
      // 404: not a collaborator at all.
      if (err instanceof GithubApiError && err.status === 404) return false;
      throw err;
    }
  }

  async branchHead(repo: string, branch: string): Promise<string> {
    const res = await this.request<{ commit: { sha: string } }>("GET", repo, `/branches/${encodeURIComponent(branch)}`);
    return res.commit.sha;
  }

  async createCheckRun(repo: string, body: CheckRunBody): Promise<number> {
    return (await this.request<{ id: number }>("POST", repo, "/check-runs", body)).id;
  }

  async updateCheckRun(repo: string, id: number, body: CheckRunBody): Promise<void> {
    await this.request("PATCH", repo, `/check-runs/${id}`, body);
  }

  async createStatus(
    repo: string,
    sha: string,
    body: { state: "pending" | "success" | "failure" | "error"; context: string; description: string; target_url?: string },
  ): Promise<void> {
    // GitHub rejects descriptions over 140 characters.
    await this.request("POST", repo, `/statuses/${sha}`, { ...body, description: body.description.slice(0, 140) });
  }

  async createIssue(repo: string, body: { title: string; body: string }): Promise<number> {
    return (await this.request<{ number: number }>("POST", repo, "/issues", body)).number;
  }

  async commentIssue(repo: string, number: number, body: string): Promise<void> {
    await this.request("POST", repo, `/issues/${number}/comments`, { body });
  }

  async closeIssue(repo: string, number: number): Promise<void> {
    await this.request("PATCH", repo, `/issues/${number}`, { state: "closed", state_reason: "completed" });
  }
}

/** The client the environment configures: an App when GITHUB_APP_ID is set, else a token, else none. */
export function createGithubClient(env: Env, logger: Logger): GithubClient | null {
  if (env.GITHUB_APP_ID !== undefined && env.GITHUB_APP_PRIVATE_KEY_PATH) {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(readFileSync(env.GITHUB_APP_PRIVATE_KEY_PATH));
    } catch (err) {
      throw new Error(
        `GITHUB_APP_PRIVATE_KEY_PATH (${env.GITHUB_APP_PRIVATE_KEY_PATH}) is not a PEM private key: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return new GithubClient({ apiUrl: env.GITHUB_API_URL, auth: { kind: "app", appId: env.GITHUB_APP_ID, privateKey }, logger });
  }
  if (env.GITHUB_TOKEN) return new GithubClient({ apiUrl: env.GITHUB_API_URL, auth: { kind: "token", token: env.GITHUB_TOKEN }, logger });
  return null;
}
