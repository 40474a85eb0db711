/**
 * Flake scores per test and board, from their history. A result counts as decisive when it passed or failed
 * (infra errors, skips and not-run say nothing about the test). The score is the share of decisive results that
 * disagree with the one before, plus passes that needed a re-run:
 *
 *   score = (flips + retryPasses) / (decisive - 1 + retryPasses)
 *
 * so a test that alternates every night scores 1, one that broke once and stayed broken scores 1/(n-1), and a
 * test that always passes on its first try scores 0.
 */
import type { FlakyTest } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import type { SuiteCatalog } from "../suites.ts";
import { bySeries, readOutcomes } from "./outcomes.ts";
import type { Outcome, RunWindow } from "./outcomes.ts";
import { activeQuarantines } from "./quarantine.ts";

/** Above this score a series is called flaky, and its failures are not reported as regressions. */
export const FLAKY_THRESHOLD = 0.3;

export type SeriesScore = { score: number; runs: number; flips: number; retryPasses: number };

/** Scores one (suite, test, board) series given oldest first. */
export function flakeScore(series: Pick<Outcome, "status" | "retryPass">[]): SeriesScore {
  const decisive = series.filter((o) => o.status === "pass" || o.status === "fail");
  let flips = 0;
  for (let i = 1; i < decisive.length; i++) if (decisive[i]!.status !== decisive[i - 1]!.status) flips++;
  const retryPasses = decisive.filter((o) => o.retryPass).length;
  const denominator = decisive.length - 1 + retryPasses;
  const score = denominator > 0 ? (flips + retryPasses) / denominator : 0;
  return { score: Math.round(score * 1000) / 1000, runs: decisive.length, flips, retryPasses };
}

export async function listFlaky(db: Db, catalog: SuiteCatalog, w: RunWindow, minScore: number): Promise<FlakyTest[]> {
  const outcomes = await readOutcomes(db, catalog, w);
  const quarantined = await activeQuarantines(db);
  const out: FlakyTest[] = [];
  for (const series of bySeries(outcomes).values()) {
    const s = flakeScore(series);
    if (s.score < minScore || s.score === 0) continue;
    const last = series.at(-1)!;
    out.push({
      suite: last.suite,
      test: last.test,
      board: last.board,
      ...s,
      lastStatus: last.status,
      quarantined: quarantined.has(`${last.suite}/${last.test}`),
    });
  }
  return out.sort((a, b) => b.score - a.score || a.suite.localeCompare(b.suite) || a.test.localeCompare(b.test));
}
