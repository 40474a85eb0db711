/**
 * The Prisma client, built once per process with the pg driver adapter. Services take a `Db` parameter so callers
 * can pass either the client or an interactive transaction.
 */
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { Prisma, PrismaClient } from "./generated/prisma/client.ts";

export { Prisma, PrismaClient };

/** A client or a transaction: what every service function accepts. */
export type Db = PrismaClient | Prisma.TransactionClient;

export function createPrisma(databaseUrl: string, poolSize = 10): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize }) });
}

/**
 * A plain pg pool for the runner protocol's hot path (scheduling passes, results, finishing attempts): set-based
 * SQL there costs a fraction of what the same work costs through the ORM, and those statements run for every job.
 */
export function createSqlPool(databaseUrl: string, poolSize = 8): pg.Pool {
  return new pg.Pool({ connectionString: databaseUrl, max: poolSize });
}

/**
 * SQL literals, for the few statements sent as plain text so that several share one round trip (BEGIN with the
 * first statement of a transaction, the last one with COMMIT): Postgres runs a multi-statement text query in
 * order, but only without parameters. Strings are escaped by pg itself.
 */
export function literal(value: string | number | boolean | null): string {
  if (value === null) return "NULL";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as an SQL literal`);
    return String(value);
  }
  return pg.escapeLiteral(value);
}

/** An SQL array literal of `type` (e.g. uuid, text), element by element through literal(). */
export function arrayLiteral(values: readonly (string | number | null)[], type: string): string {
  return `ARRAY[${values.map(literal).join(",")}]::${type}[]`;
}
