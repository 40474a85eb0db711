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
