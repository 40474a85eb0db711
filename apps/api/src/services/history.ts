/** A test's history: its result on every board in every run of a window, with pass rate and flake score per board. */
import type { BoardScore, TestHistory } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import { AppError, ErrorCode } from "../errors.ts";
import type { SuiteCatalog } from "../suites.ts";
import { flakeScore } from "./flaky.ts";
import { bySeries, readOutcomes } from "./outcomes.ts";
import type { RunWindow } from "./outcomes.ts";
import { getQuarantine } from "./quarantine.ts";

export async function testHistory(
  db: Db,
  catalog: SuiteCatalog,
  suite: string,
  test: string,
  w: RunWindow & { board?: string | undefined },
): Promise<TestHistory> {
  const known = catalog.get(suite)?.tests.some((t) => t.name === test) ?? false;
  let outcomes = await readOutcomes(db, catalog, { ...w, suite }, { suite, test });
  if (!known && outcomes.length === 0) {
    // Tests removed from a suite still have history; only a name that never existed is a 404.
    const ever = await db.testResult.findFirst({ where: { suite, test }, select: { id: true } });
    if (!ever) {
      const names = catalog.get(suite)?.tests.map((t) => t.name);
      throw new AppError(
        ErrorCode.NOT_FOUND,
        names
          ? `suite ${suite} has no test ${test}; its tests: ${names.join(", ")}`
          : `no results for suite ${suite}; known suites: ${[...catalog.keys()].join(", ")}`,
      );
    }
  }
  if (w.board) outcomes = outcomes.filter((o) => o.board === w.board);
  const boards: BoardScore[] = [...bySeries(outcomes).values()].map((series) => {
    const pass = series.filter((o) => o.status === "pass").length;
    const fail = series.filter((o) => o.status === "fail").length;
    return {
      board: series[0]!.board,
      runs: series.length,
      passRate: pass + fail > 0 ? Math.round((pass / (pass + fail)) * 1000) / 1000 : null,
      flakeScore: flakeScore(series).score,
    };
  });
  boards.sort((a, b) => a.board.localeCompare(b.board));
  // The window holds `w.runs` runs; a full window means older runs may exist.
  const runIds = new Set(outcomes.map((o) => o.runId));
  const oldest = outcomes[0];
  return {
    suite,
    test,
    quarantine: await getQuarantine(db, suite, test),
    boards,
    entries: outcomes.reverse().map((o) => ({
      run: { id: o.runId, ref: o.ref, createdAt: o.runCreatedAt.toISOString(), trigger: o.trigger as never, project: o.project },
      board: o.board,
      status: o.status,
      durationMs: o.durationMs,
      attempt: o.attempt,
      tries: o.tries,
      flaky: o.retryPass,
      message: o.message,
      measurements: o.measurements,
    })),
    nextBefore: oldest && runIds.size >= w.runs ? oldest.runCreatedAt.toISOString() : null,
  };
}
