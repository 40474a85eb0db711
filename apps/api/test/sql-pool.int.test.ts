/**
 * The hot path's pool against a real Postgres: pipelined statements keep their order and their transaction, a
 * failure in the middle rolls the whole transaction back and leaves the connection usable, and the session
 * settings the planner relies on are in force.
 */
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSqlPool, onConnection, pipelined } from "../src/db.ts";
import { adminQuery, createTestDatabase } from "./helpers/services.ts";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createSqlPool(db.url, 2);
  await pool.query(`CREATE TABLE pipe_probe (id int PRIMARY KEY, note text NOT NULL)`);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe("pipelined statements", () => {
  it("run in order inside one transaction, each seeing what the ones before it wrote", async () => {
    const client = await pool.connect();
    try {
      const [, , , read] = await pipelined(client, [
        "BEGIN",
        { name: "probe-insert", text: `INSERT INTO pipe_probe (id, note) VALUES ($1, $2)`, values: [1, "first"] },
        { name: "probe-update", text: `UPDATE pipe_probe SET note = note || $2 WHERE id = $1`, values: [1, "+second"] },
        { name: "probe-read", text: `SELECT note FROM pipe_probe WHERE id = $1`, values: [1] },
        "COMMIT",
      ]);
      expect(read!.rows).toEqual([{ note: "first+second" }]);
    } finally {
      client.release();
    }
    expect((await pool.query(`SELECT note FROM pipe_probe WHERE id = 1`)).rows).toEqual([{ note: "first+second" }]);
  });

  it("rejects with the failing statement's error, commits nothing of its transaction, and the connection works on", async () => {
    const client = await pool.connect();
    try {
      const attempt = pipelined(client, [
        "BEGIN",
        { name: "probe-insert", text: `INSERT INTO pipe_probe (id, note) VALUES ($1, $2)`, values: [2, "kept?"] },
        // Violates the primary key: the statements after it fail as "transaction aborted", and COMMIT rolls back.
        { name: "probe-insert", text: `INSERT INTO pipe_probe (id, note) VALUES ($1, $2)`, values: [1, "duplicate"] },
        { name: "probe-read", text: `SELECT note FROM pipe_probe WHERE id = $1`, values: [2] },
        "COMMIT",
      ]);
      await expect(attempt).rejects.toMatchObject({ code: "23505" });
      await client.query("ROLLBACK").catch(() => {});
      const { rows } = await client.query({ name: "probe-read", text: `SELECT note FROM pipe_probe WHERE id = $1`, values: [2] });
      expect(rows).toEqual([]);
    } finally {
      client.release();
    }
  });

  it("refuses a statement name reused for other text before sending anything, so nothing of the transaction commits", async () => {
    const client = await pool.connect();
    try {
      const attempt = pipelined(client, [
        "BEGIN",
        { name: "probe-insert", text: `INSERT INTO pipe_probe (id, note) VALUES ($1, $2)`, values: [3, "must not stay"] },
        { name: "probe-insert", text: `INSERT INTO pipe_probe (note, id) VALUES ($1, $2)`, values: ["other", 4] },
        "COMMIT",
      ]);
      await expect(attempt).rejects.toThrow("statement name probe-insert is used for two different statements");
      expect(client.getTransactionStatus()).toBe("I");
    } finally {
      client.release();
    }
    expect((await pool.query(`SELECT id FROM pipe_probe WHERE id IN (3, 4)`)).rows).toEqual([]);
  });

  it("rolls back and drops a connection whose work failed, and hands a working one back otherwise", async () => {
    const pidOf = (c: pg.PoolClient) => c.query(`SELECT pg_backend_pid() AS pid`).then((r) => r.rows[0].pid as number);
    const kept = await onConnection(pool, pidOf);
    expect(await onConnection(pool, pidOf)).toBe(kept);
    let failed = 0;
    await expect(
      onConnection(pool, async (c) => {
        failed = await pidOf(c);
        await c.query("BEGIN");
        await c.query(`INSERT INTO pipe_probe (id, note) VALUES (5, 'rolled back')`);
        throw new Error("work failed");
      }),
    ).rejects.toThrow("work failed");
    expect((await pool.query(`SELECT id FROM pipe_probe WHERE id = 5`)).rows).toEqual([]);
    // The failed connection was closed, not handed out again.
    await expect
      .poll(async () => (await pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1`, [failed])).rows[0].n)
      .toBe(0);
  });

  it("lives through Postgres ending its connections, idle or checked out, and opens new ones", async () => {
    const lost: Error[] = [];
    const other = createSqlPool(db.url, 1, (err) => lost.push(err));
    const pidOf = (c: pg.PoolClient) => c.query(`SELECT pg_backend_pid() AS pid`).then((r) => r.rows[0].pid as number);
    try {
      // An idle connection killed under the pool: heard, dropped, and the next query gets a fresh backend.
      const idle = await onConnection(other, pidOf);
      await adminQuery(`SELECT pg_terminate_backend(${idle})`);
      await expect.poll(() => lost.length).toBe(1);
      expect(lost[0]).toMatchObject({ code: "57P01" });
      const fresh = await onConnection(other, pidOf);
      expect(fresh).not.toBe(idle);

      // One killed while its work holds it: the work's next statement fails, and the connection is not reused.
      await expect(
        onConnection(other, async (c) => {
          await adminQuery(`SELECT pg_terminate_backend(${await pidOf(c)})`);
          await new Promise((r) => setTimeout(r, 100));
          await c.query("SELECT 1");
        }),
      ).rejects.toThrow();
      const after = await onConnection(other, pidOf);
      expect(after).not.toBe(fresh);
      expect((await other.query(`SELECT 1 AS one`)).rows).toEqual([{ one: 1 }]);
    } finally {
      await other.end();
    }
  });

  it("plans with each call's values and prices random reads for memory, on every connection of the pool", async () => {
    // Both connections at once, so the pool cannot hand the same one out twice.
    const clients = await Promise.all([pool.connect(), pool.connect()]);
    try {
      const settings = await Promise.all(
        clients.map(async (c) => {
          const { rows } = await c.query(
            `SELECT pg_backend_pid() AS pid, current_setting('plan_cache_mode') AS mode, current_setting('random_page_cost')::float AS price`,
          );
          return rows[0] as { pid: number; mode: string; price: number };
        }),
      );
      expect(new Set(settings.map((s) => s.pid)).size).toBe(2);
      for (const s of settings) expect(s).toMatchObject({ mode: "force_custom_plan", price: 1.1 });
    } finally {
      for (const c of clients) c.release();
    }
  });

  it("keeps the options a DATABASE_URL carries, with the pool's own settings on top", async () => {
    const url = new URL(db.url);
    url.searchParams.set("options", "-c application_name=hil-probe -c random_page_cost=9");
    const other = createSqlPool(url.toString(), 1);
    try {
      const { rows } = await other.query(
        `SELECT current_setting('application_name') AS app, current_setting('plan_cache_mode') AS mode, current_setting('random_page_cost')::float AS price`,
      );
      expect(rows).toEqual([{ app: "hil-probe", mode: "force_custom_plan", price: 1.1 }]);
    } finally {
      await other.end();
    }
  });
});
