/**
 * API tokens, runner tokens and one-time registration tokens. Only SHA-256 hashes are stored: a database dump
 * never yields a usable token. Tokens are long random strings, so a plain hash (no salt/KDF) is sufficient.
 */
import { createHash, randomBytes } from "node:crypto";
import type { ApiScope } from "@tock-hil/protocol";
import type { Db } from "../db.ts";

export const hashToken = (token: string): string => createHash("sha256").update(token).digest("hex");

/** `hil_<kind>_<43 chars of base64url>`: the prefix tells a leaked token's kind at a glance. */
export const generateToken = (kind: "admin" | "api" | "runner" | "reg"): string => `hil_${kind}_${randomBytes(32).toString("base64url")}`;

export type ApiPrincipal = { kind: "api"; tokenId: string; name: string; scopes: ApiScope[] };

export async function findApiToken(db: Db, token: string): Promise<ApiPrincipal | undefined> {
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) } });
  if (!row || row.revokedAt) return undefined;
  return { kind: "api", tokenId: row.id, name: row.name, scopes: row.scopes as ApiScope[] };
}

export async function createApiToken(db: Db, name: string, scopes: ApiScope[], token = generateToken("api")) {
  const row = await db.apiToken.create({ data: { name, scopes, tokenHash: hashToken(token) } });
  return { id: row.id, token };
}

/**
 * Makes sure the bootstrap admin token exists. With `token` given (HIL_ADMIN_TOKEN) it is registered if new;
 * otherwise a random one is created. Returns the token only when it was created here (so it can be shown once).
 */
export async function ensureAdminToken(db: Db, token: string | undefined): Promise<{ created: boolean; token?: string }> {
  if (token) {
    const hash = hashToken(token);
    const existing = await db.apiToken.findUnique({ where: { tokenHash: hash } });
    if (existing && !existing.revokedAt) return { created: false };
    if (existing) await db.apiToken.update({ where: { id: existing.id }, data: { revokedAt: null } });
    else await db.apiToken.create({ data: { name: "bootstrap-admin (HIL_ADMIN_TOKEN)", scopes: ["admin"], tokenHash: hash } });
    return { created: false };
  }
  const fresh = generateToken("admin");
  await db.apiToken.create({ data: { name: "bootstrap-admin", scopes: ["admin"], tokenHash: hashToken(fresh) } });
  return { created: true, token: fresh };
}

export async function createRegistrationToken(db: Db, options: { note?: string | undefined; ttlMs: number }) {
  const token = generateToken("reg");
  const row = await db.registrationToken.create({
    data: { tokenHash: hashToken(token), note: options.note ?? null, expiresAt: new Date(Date.now() + options.ttlMs) },
  });
  return { token, expiresAt: row.expiresAt };
}

export type RunnerPrincipal = { kind: "runner"; runnerId: string; name: string };

// Runners call the API several times a second; their token lookups are cached briefly (runner tokens are never
// edited, only created, so a cache entry can only be stale for a runner that was deleted in the last few seconds).
const RUNNER_CACHE_MS = 10_000;
const runnerCache = new Map<string, { principal: RunnerPrincipal; until: number }>();

export async function findRunnerByToken(db: Db, token: string): Promise<RunnerPrincipal | undefined> {
  const hash = hashToken(token);
  const hit = runnerCache.get(hash);
  if (hit && hit.until > Date.now()) return hit.principal;
  const row = await db.runner.findUnique({ where: { tokenHash: hash }, select: { id: true, name: true } });
  if (!row) return undefined;
  const principal: RunnerPrincipal = { kind: "runner", runnerId: row.id, name: row.name };
  if (runnerCache.size > 10_000) runnerCache.clear();
  runnerCache.set(hash, { principal, until: Date.now() + RUNNER_CACHE_MS });
  return principal;
}
