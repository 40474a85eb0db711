/**
 * Regressions: a test that passed on a board and then failed there. For each (suite, test, board) series we walk
 * the decisive results (pass/fail) oldest first; a failure right after a pass opens a regression whose first
 * failing run names the suspect commit, and the next pass closes it as fixed. Series whose flake score is at or
 * above FLAKY_THRESHOLD are left out: an alternating test is flaky, not broken once per night. Regressions that
 * start in the same run for the same test are merged, listing every affected board.
 */
import type { Regression, RunRef } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import type { SuiteCatalog } from "../suites.ts";
import { FLAKY_THRESHOLD, flakeScore } from "./flaky.ts";
import { bySeries, readOutcomes } from "./outcomes.ts";
import type { Outcome, RunWindow } from "./outcomes.ts";

const ref = (o: Outcome): RunRef => ({ id: o.runId, ref: o.ref, createdAt: o.runCreatedAt.toISOString() });

type Streak = { first: Outcome; lastPass: Outcome; fixedIn: Outcome | null; failures: number; lastFailure: Outcome };

/** Fail streaks that follow a pass in one series given oldest first. */
export function findStreaks(series: Outcome[]): Streak[] {
  const streaks: Streak[] = [];
  let lastPass: Outcome | undefined;
  let open: Streak | undefined;
  for (const o of series) {
    if (o.status === "pass") {
      if (open) {
        open.fixedIn = o;
        streaks.push(open);
        open = undefined;
      }
      lastPass = o;
    } else if (o.status === "fail") {
      if (open) {
        open.failures++;
        open.lastFailure = o;
      } else if (lastPass) {
        open = { first: o, lastPass, fixedIn: null, failures: 1, lastFailure: o };
      }
    }
  }
  if (open) streaks.push(open);
  return streaks;
}

/** Merges per-board streaks of one test that started in the same run into one regression. */
export function regressionsFrom(outcomes: Outcome[]): Regression[] {
  const merged = new Map<string, Regression & { fixedAt: Date | null; newestFailure: Date }>();
  for (const series of bySeries(outcomes).values()) {
    if (flakeScore(series).score >= FLAKY_THRESHOLD) continue;
    for (const s of findStreaks(series)) {
      const key = `${s.first.suite}\u0000${s.first.test}\u0000${s.first.runId}`;
      const existing = merged.get(key);
      if (!existing) {
        merged.set(key, {
          suite: s.first.suite,
          test: s.first.test,
          state: s.fixedIn ? "fixed" : "active",
          boards: [s.first.board],
          firstFailing: ref(s.first),
          lastPassing: ref(s.lastPass),
          fixedIn: s.fixedIn ? ref(s.fixedIn) : null,
          failures: s.failures,
          message: s.lastFailure.message,
          fixedAt: s.fixedIn?.runCreatedAt ?? null,
          newestFailure: s.lastFailure.runCreatedAt,
        });
        continue;
      }
      existing.boards.push(s.first.board);
      existing.failures += s.failures;
      // The newest "last passing" across boards is the tightest bound on the suspect range.
      if (s.lastPass.runCreatedAt.toISOString() > existing.lastPassing.createdAt) existing.lastPassing = ref(s.lastPass);
      if (s.lastFailure.runCreatedAt > existing.newestFailure) {
        existing.newestFailure = s.lastFailure.runCreatedAt;
        existing.message = s.lastFailure.message;
      }
      // Fixed only when fixed on every board; then by the run that fixed the last one.
      if (!s.fixedIn || existing.state === "active") {
        existing.state = "active";
        existing.fixedIn = null;
        existing.fixedAt = null;
      } else if (existing.fixedAt && s.fixedIn.runCreatedAt > existing.fixedAt) {
        existing.fixedIn = ref(s.fixedIn);
        existing.fixedAt = s.fixedIn.runCreatedAt;
      }
    }
  }
  return [...merged.values()]
    .map(({ fixedAt: _f, newestFailure: _n, ...r }) => ({ ...r, boards: [...new Set(r.boards)].sort() }))
    .sort(
      (a, b) =>
        (a.state === b.state ? 0 : a.state === "active" ? -1 : 1) ||
        b.firstFailing.createdAt.localeCompare(a.firstFailing.createdAt) ||
        a.suite.localeCompare(b.suite) ||
        a.test.localeCompare(b.test),
    );
}

export async function listRegressions(
  db: Db,
  catalog: SuiteCatalog,
  w: RunWindow,
  state: "active" | "fixed" | "all",
): Promise<Regression[]> {
  const all = regressionsFrom(await readOutcomes(db, catalog, w));
  return state === "all" ? all : all.filter((r) => r.state === state);
}
