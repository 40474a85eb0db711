/**
 * The one read of test outcomes that history, flaky scores, regressions and the matrix share: for each run in a
 * window, the verdict of every test (the last try of the latest attempt that reported it), fanned out to the
 * boards the test used. A multi-board test counts once per board, so a flaky or broken board shows up on its own.
 */
import type { TestStatus } from "@tock-hil/protocol";
import { Prisma } from "../db.ts";
import type { Db } from "../db.ts";
import type { SuiteCatalog } from "../suites.ts";

export type RunWindow = {
  project?: string | undefined;
  /** Only runs of this trigger; undefined: every trigger. */
  trigger?: string | undefined;
  /** Newest runs to consider. */
  runs: number;
  /** Only runs created before this instant (older pages). */
  before?: Date | undefined;
  /** Only runs that included this suite (so a test's history window counts runs that could have run it). */
  suite?: string | undefined;
};

export type Outcome = {
  runId: string;
  runCreatedAt: Date;
  ref: string | null;
  trigger: string;
  project: string;
  suite: string;
  test: string;
  board: string;
  status: TestStatus;
  durationMs: number;
  attempt: number;
  tries: number;
  /** Failed, then passed on a re-run within the attempt. */
  retryPass: boolean;
  message: string | null;
  measurements: Record<string, number | string | boolean> | null;
};

type Row = Omit<Outcome, "board" | "retryPass"> & { boards: { role: string; board: string }[] | null; retryFailed: boolean | null };

/** Roles each test uses, from the suite manifests; a test the catalog does not know is attributed to every board. */
export function testRoles(catalog: SuiteCatalog): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const suite of catalog.values()) for (const t of suite.tests) out.set(`${suite.name}/${t.name}`, t.roles);
  return out;
}

/** Runs matching the window, newest first, as a SQL fragment usable in a CTE. */
export function windowRunsSql(w: RunWindow): Prisma.Sql {
  return Prisma.sql`
    SELECT r.id, r."createdAt", r.ref, r.trigger::text AS trigger, p.name AS project, r.status::text AS status
    FROM "Run" r JOIN "Project" p ON p.id = r."projectId"
    WHERE r.status IN ('passed', 'failed', 'error', 'cancelled', 'running')
      ${w.trigger ? Prisma.sql`AND r.trigger = ${w.trigger}::"RunTrigger"` : Prisma.empty}
      ${w.project ? Prisma.sql`AND p.name = ${w.project}` : Prisma.empty}
      ${w.before ? Prisma.sql`AND r."createdAt" < ${w.before}` : Prisma.empty}
      ${w.suite ? Prisma.sql`AND EXISTS (SELECT 1 FROM "Job" j WHERE j."runId" = r.id AND j.suite = ${w.suite})` : Prisma.empty}
    ORDER BY r."createdAt" DESC, r.id DESC
    LIMIT ${w.runs}`;
}

/** Outcomes in a window of runs, optionally of one test only; oldest run first. */
export async function readOutcomes(
  db: Db,
  catalog: SuiteCatalog,
  w: RunWindow,
  only?: { suite: string; test: string },
): Promise<Outcome[]> {
  const rows = await db.$queryRaw<Row[]>`
    WITH runs AS (${windowRunsSql(w)}),
    res AS (
      SELECT DISTINCT ON (tr."jobId", tr.test)
        tr."attemptId", tr.suite, tr.test, tr.status::text AS status, tr."durationMs", tr.try, tr.message, tr.measurements,
        a.number AS attempt, runs.id AS "runId", runs."createdAt" AS "runCreatedAt", runs.ref, runs.trigger, runs.project
      FROM runs
      JOIN "Job" j ON j."runId" = runs.id
      JOIN "TestResult" tr ON tr."jobId" = j.id
      JOIN "Attempt" a ON a.id = tr."attemptId"
      ${only ? Prisma.sql`WHERE tr.suite = ${only.suite} AND tr.test = ${only.test}` : Prisma.empty}
      ORDER BY tr."jobId", tr.test, a.number DESC, tr.try DESC
    )
    SELECT res."runId", res."runCreatedAt", res.ref, res.trigger, res.project, res.suite, res.test, res.status,
      res."durationMs", res.attempt, res.try AS tries, res.message, res.measurements,
      (res.try > 1 AND EXISTS (SELECT 1 FROM "TestResult" t2 WHERE t2."attemptId" = res."attemptId" AND t2.test = res.test
        AND t2.try < res.try AND t2.status = 'fail')) AS "retryFailed",
      (SELECT json_agg(json_build_object('role', ab.role, 'board', b.name) ORDER BY ab.role)
        FROM "AttemptBoard" ab JOIN "Board" b ON b.id = ab."boardId" WHERE ab."attemptId" = res."attemptId") AS boards
    FROM res
    ORDER BY res."runCreatedAt", res."runId", res.suite, res.test`;
  const roles = testRoles(catalog);
  const out: Outcome[] = [];
  for (const { boards, retryFailed, ...r } of rows) {
    const used = roles.get(`${r.suite}/${r.test}`);
    const mine = (boards ?? []).filter((b) => !used || used.includes(b.role));
    for (const b of mine) {
      out.push({ ...r, tries: Number(r.tries), board: b.board, retryPass: r.status === "pass" && retryFailed === true });
    }
  }
  return out;
}

/** Groups outcomes by (suite, test, board), keeping each group's run order. */
export function bySeries(outcomes: Outcome[]): Map<string, Outcome[]> {
  const series = new Map<string, Outcome[]>();
  for (const o of outcomes) {
    const key = `${o.suite}\u0000${o.test}\u0000${o.board}`;
    const list = series.get(key);
    if (list) list.push(o);
    else series.set(key, [o]);
  }
  return series;
}
