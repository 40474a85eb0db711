/** Listing and revoking API and registration tokens (creation lives in tokens.ts). Hashes are never returned. */
import type { ApiScope, ApiTokenView, RegistrationTokenView } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";

export async function listApiTokens(db: Db, includeRevoked: boolean): Promise<ApiTokenView[]> {
  const rows = await db.apiToken.findMany({
    where: includeRevoked ? {} : { revokedAt: null },
    orderBy: { createdAt: "asc" },
  });
  return rows.map((t) => ({
    id: t.id,
    name: t.name,
    scopes: t.scopes as ApiScope[],
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  }));
}

/** Revokes a token. Refuses to revoke the last live admin token: nobody could create another one. */
export async function revokeApiToken(db: Db, id: string): Promise<ApiTokenView> {
  const token = await db.apiToken.findUnique({ where: { id } });
  if (!token) throw notFound("API token", id);
  if (token.revokedAt)
    throw new AppError(ErrorCode.CONFLICT, `API token ${token.name} was already revoked at ${token.revokedAt.toISOString()}`);
  if (token.scopes.includes("admin")) {
    const admins = await db.apiToken.count({ where: { revokedAt: null, scopes: { has: "admin" } } });
    if (admins <= 1) {
      throw new AppError(ErrorCode.CONFLICT, `${token.name} is the last admin token; create another admin token before revoking it`);
    }
  }
  const row = await db.apiToken.update({ where: { id }, data: { revokedAt: new Date() } });
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as ApiScope[],
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

export async function listRegistrationTokens(db: Db): Promise<RegistrationTokenView[]> {
  const rows = await db.registrationToken.findMany({ orderBy: { createdAt: "asc" }, include: { runner: { select: { name: true } } } });
  return rows.map((t) => ({
    id: t.id,
    note: t.note,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    usedAt: t.usedAt?.toISOString() ?? null,
    runner: t.runner?.name ?? null,
  }));
}

/** Revokes an unused registration token by expiring it now (a used one has already been exchanged). */
export async function revokeRegistrationToken(db: Db, id: string): Promise<void> {
  const token = await db.registrationToken.findUnique({ where: { id } });
  if (!token) throw notFound("registration token", id);
  if (token.usedAt) {
    throw new AppError(
      ErrorCode.CONFLICT,
      `this registration token was already used by runner ${token.runnerId ?? "(deleted)"}; used tokens cannot register again`,
    );
  }
  await db.registrationToken.update({ where: { id }, data: { expiresAt: new Date() } });
}
