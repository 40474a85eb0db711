/**
 * The nightly matrix: (suite, test, board) rows by the last N runs of a trigger, one status letter per run.
 *
 * Fast with a year of history (about a million results; bench/matrix.ts) by two means:
 *  - Postgres returns one text row per run (its cells joined), not one row per result, so 80k cells cross the
 *    wire as ~30 rows; the sort/aggregate gets enough work_mem not to spill to disk.
 *  - A finished run's cells never change (results are only accepted from running attempts), so they are cached
 *    per run in this process; a warm matrix only queries runs still in progress. The cache is bounded (LRU).
 */
import type { Matrix } from "@tock-hil/protocol";
import { performance } from "node:perf_hooks";
import type { Db, Prisma } from "../db.ts";
import type { SuiteCatalog } from "../suites.ts";
import { flakeScore } from "./flaky.ts";
import { testRoles, windowRunsSql } from "./outcomes.ts";
import type { RunWindow } from "./outcomes.ts";
import { activeQuarantines } from "./quarantine.ts";

const CODE: Record<string, string> = { pass: "P", fail: "F", error: "E", skip: "S", not_run: "N", retry_pass: "p" };
const FINAL = new Set(["passed", "failed", "error", "cancelled"]);
/** Runs whose cells are kept: a year of nightlies plus room for other triggers. */
const CACHE_RUNS = 800;

/** Cells of one run: `suite\ttest\tboard` -> status letter. */
type RunCells = Map<string, string>;
const cache = new Map<string, RunCells>();

function remember(runId: string, cells: RunCells) {
  cache.delete(runId);
  cache.set(runId, cells);
  while (cache.size > CACHE_RUNS) cache.delete(cache.keys().next().value!);
}

async function readCells(db: Db, catalog: SuiteCatalog, runIds: string[]): Promise<Map<string, RunCells>> {
  const out = new Map<string, RunCells>(runIds.map((id) => [id, new Map()]));
  if (runIds.length === 0) return out;
  const roles = JSON.stringify(Object.fromEntries(testRoles(catalog)));
  const query = (q: Db) => q.$queryRaw<{ runId: string; cells: string | null }[]>`
    WITH roles AS (SELECT key, ARRAY(SELECT jsonb_array_elements_text(value)) AS roles FROM jsonb_each(${roles}::jsonb)),
    res AS (
      SELECT DISTINCT ON (tr."jobId", tr.test) tr."attemptId", tr.suite, tr.test, tr.status, tr.try, j."runId"
      FROM "Job" j
      JOIN "TestResult" tr ON tr."jobId" = j.id
      JOIN "Attempt" a ON a.id = tr."attemptId"
      WHERE j."runId" = ANY(${runIds}::uuid[])
      ORDER BY tr."jobId", tr.test, a.number DESC, tr.try DESC
    )
    SELECT res."runId", string_agg(
      res.suite || E'\\t' || res.test || E'\\t' || b.name || E'\\t' ||
        CASE WHEN res.status = 'pass' AND res.try > 1 THEN 'retry_pass' ELSE res.status::text END, E'\\n') AS cells
    FROM res
    JOIN "AttemptBoard" ab ON ab."attemptId" = res."attemptId"
    JOIN "Board" b ON b.id = ab."boardId"
    LEFT JOIN roles m ON m.key = res.suite || '/' || res.test
    WHERE m.roles IS NULL OR ab.role = ANY(m.roles)
    GROUP BY res."runId"`;
  // The default work_mem (4 MB) makes the sort of ~80k rows spill to disk; give this one query more.
  const rows =
    "$transaction" in db
      ? await (db as { $transaction: <T>(fn: (tx: Prisma.TransactionClient) => Promise<T>) => Promise<T> }).$transaction(async (tx) => {
          await tx.$executeRawUnsafe("SET LOCAL work_mem = '64MB'");
          return query(tx);
        })
      : await query(db);
  for (const r of rows) {
    const cells = out.get(r.runId)!;
    for (const line of (r.cells ?? "").split("\n")) {
      const tab = line.lastIndexOf("\t");
      if (tab > 0) cells.set(line.slice(0, tab), CODE[line.slice(tab + 1)] ?? "?");
    }
  }
  return out;
}

export async function nightlyMatrix(db: Db, catalog: SuiteCatalog, w: RunWindow): Promise<Matrix> {
  const t0 = performance.now();
  const nights = await db.$queryRaw<{ id: string; createdAt: Date; ref: string | null; status: string }[]>`
    SELECT id, "createdAt", ref, status FROM (${windowRunsSql(w)}) n ORDER BY "createdAt", id`;
  const missing = nights.filter((n) => !FINAL.has(n.status) || !cache.has(n.id)).map((n) => n.id);
  const fresh = await readCells(db, catalog, missing);
  const perRun = nights.map((n) => {
    const cells = fresh.get(n.id) ?? cache.get(n.id)!;
    if (FINAL.has(n.status)) remember(n.id, cells);
    return cells;
  });

  const rows = new Map<string, string[]>();
  perRun.forEach((cells, i) => {
    for (const [key, code] of cells) {
      let row = rows.get(key);
      if (!row) rows.set(key, (row = Array<string>(nights.length).fill(".")));
      row[i] = code;
    }
  });
  const quarantined = await activeQuarantines(db);
  const out = [...rows.entries()]
    .map(([key, cells]) => {
      const [suite, test, board] = key.split("\t") as [string, string, string];
      const series = cells
        .filter((c) => c !== ".")
        .map((c) => ({
          status: c === "F" ? ("fail" as const) : c === "P" || c === "p" ? ("pass" as const) : ("error" as const),
          retryPass: c === "p",
        }));
      return {
        suite,
        test,
        board,
        cells: cells.join(""),
        quarantined: quarantined.has(`${suite}/${test}`),
        flakeScore: flakeScore(series).score,
      };
    })
    .sort((a, b) => a.suite.localeCompare(b.suite) || a.test.localeCompare(b.test) || a.board.localeCompare(b.board));
  return {
    nights: nights.map((n) => ({ id: n.id, ref: n.ref, createdAt: n.createdAt.toISOString(), status: n.status as never })),
    rows: out,
    serverMs: Math.round((performance.now() - t0) * 10) / 10,
  };
}
