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
 *
 * Its connections pipeline (a transaction's statements go out back to back and come back in one round trip, see
 * `pipelined`), and the hot statements are named, so each connection parses and analyses one once rather than
 * on every batch. Plans stay custom (planned with each call's values): a generic plan is chosen once, on the
 * tables' size when the connection was young, and one went on scanning whole tables long after they had grown.
 * Random reads are priced as what they are for these statements (pages in memory or on SSD) rather than as
 * spinning-disk seeks: at the default price the planner scanned a thousand-row table to avoid a few index probes.
 */
export function createSqlPool(databaseUrl: string, poolSize = 8, onConnectionLost: (err: Error) => void = () => {}): pg.Pool {
  // Appended to any `options` the URL carries rather than replaced by them (pg lets the URL's win): the last
  // setting of a parameter counts, so these hold and the operator's other settings stay.
  const { url, options } = splitOptions(databaseUrl);
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    pipeline: true,
    options: [options, "-c plan_cache_mode=force_custom_plan -c random_page_cost=1.1"].filter(Boolean).join(" "),
  });
  // pg-pool reports an idle connection that died (Postgres restarted, an operator's pg_terminate_backend, a cut
  // network) as an 'error' event on the pool, and an unheard 'error' event ends the process. The pool has already
  // dropped that connection and opens a fresh one for the next query, so hearing it is all there is to do.
  pool.on("error", onConnectionLost);
  return pool;
}

function splitOptions(databaseUrl: string): { url: string; options: string | null } {
  let parsed: URL;
  try {
    parsed = new URL(databaseUrl);
  } catch {
    return { url: databaseUrl, options: null };
  }
  const options = parsed.searchParams.get("options");
  if (options === null) return { url: databaseUrl, options: null };
  parsed.searchParams.delete("options");
  return { url: parsed.toString(), options };
}

/** What a statement's values may be: what pg serialises without fail (an object or a BigInt could throw at send). */
export type SqlValue = string | number | boolean | null | readonly (string | number | boolean | null)[];

/** A statement to run with `pipelined`: plain text (BEGIN, COMMIT, SET LOCAL) or a named statement with values. */
export type Statement = string | { name: string; text: string; values?: readonly SqlValue[] };

/** Each statement name's text: pg refuses a name reused with other text, and must not find out mid-pipeline. */
const statementTexts = new Map<string, string>();

/**
 * Runs `statements` on one pipelining connection in order, sent without waiting for each answer (one round trip
 * for all), and returns their results. Postgres still runs each after the one before, so a statement sees what the
 * previous ones did; after an error in a transaction the rest fail too ("current transaction is aborted", and a
 * COMMIT then rolls back). Rejects with the first error once every statement has been answered, so a ROLLBACK
 * sent by the caller comes after all of them.
 *
 * An error pg raises itself, before sending a statement, would skip only that statement and let the rest (COMMIT
 * too) go through: so names are checked here before anything is sent, and values are typed to what pg always
 * serialises.
 */
export async function pipelined(client: pg.PoolClient, statements: Statement[]): Promise<pg.QueryResult[]> {
  for (const s of statements) {
    if (typeof s === "string") continue;
    const known = statementTexts.get(s.name);
    if (known === undefined) statementTexts.set(s.name, s.text);
    else if (known !== s.text) throw new Error(`statement name ${s.name} is used for two different statements`);
  }
  const settled = await Promise.allSettled(
    statements.map((s) =>
      typeof s === "string" ? client.query(s) : client.query({ name: s.name, text: s.text, values: s.values as unknown[] }),
    ),
  );
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<pg.QueryResult>).value);
}

/**
 * Runs `work` on a connection of its own and hands the connection back. If `work` throws, the transaction it may
 * have begun is rolled back and the connection is dropped rather than handed out again: a named statement it
 * holds may have gone stale (a column that changed type), or the transaction may not have ended.
 */
export async function onConnection<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out connection has no listener of the pool's: one that dies between statements would emit an
  // unheard 'error' and end the process. Its statements fail on their own (pg rejects every pending query), so
  // here it only has to be remembered and the connection not handed out again.
  let lost: Error | undefined;
  const onLost = (err: Error) => {
    lost = err;
  };
  client.on("error", onLost);
  let result: T;
  try {
    result = await work(client);
  } catch (err) {
    if (!lost) await client.query("ROLLBACK").catch(() => {});
    client.off("error", onLost);
    client.release(true);
    throw err;
  }
  client.off("error", onLost);
  client.release(lost ?? undefined);
  return result;
}
