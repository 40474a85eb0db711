/**
 * Pure board matching for gang allocation: assign every role of a job to a distinct board that satisfies it, or
 * report that no assignment exists. Jobs have a handful of roles, so a backtracking search over candidates in
 * preference order is exact and cheap, and the preference order makes the result deterministic.
 */

export type MatchBoard = { id: string; name: string; type: string; tags: readonly string[]; group: string | null };
export type MatchRole = { role: string; boardType: string; tags?: readonly string[] | undefined };

const fits = (role: MatchRole, board: MatchBoard) =>
  board.type === role.boardType && (role.tags ?? []).every((t) => board.tags.includes(t));

/**
 * Returns role -> board for the first assignment found, trying boards in the given order (so callers put preferred
 * boards first), or undefined. With `sameGroup`, all boards must share one non-null group.
 */
export function matchRoles<B extends MatchBoard>(
  roles: readonly MatchRole[],
  boards: readonly B[],
  sameGroup: boolean,
): Map<string, B> | undefined {
  if (!sameGroup) return assign(roles, boards);
  const groups = [...new Set(boards.map((b) => b.group).filter((g): g is string => g !== null))];
  for (const group of groups) {
    const found = assign(
      roles,
      boards.filter((b) => b.group === group),
    );
    if (found) return found;
  }
  return undefined;
}

function assign<B extends MatchBoard>(roles: readonly MatchRole[], boards: readonly B[]): Map<string, B> | undefined {
  // Most constrained roles first: fewer candidates means earlier pruning.
  const candidates = roles
    .map((role) => ({ role, options: boards.filter((b) => fits(role, b)) }))
    .sort((a, b) => a.options.length - b.options.length);
  if (candidates.some((c) => c.options.length === 0)) return undefined;
  const used = new Set<string>();
  const chosen = new Map<string, B>();
  const search = (i: number): boolean => {
    if (i === candidates.length) return true;
    const { role, options } = candidates[i]!;
    for (const board of options) {
      if (used.has(board.id)) continue;
      used.add(board.id);
      chosen.set(role.role, board);
      if (search(i + 1)) return true;
      used.delete(board.id);
      chosen.delete(role.role);
    }
    return false;
  };
  return search(0) ? chosen : undefined;
}

export type QueuedJobForPlan = {
  id: string;
  roles: readonly MatchRole[];
  sameGroup: boolean;
  avoidBoards: ReadonlySet<string>;
  /** False when another live runner already holds boards back for this job: it may start here, but not reserve. */
  mayReserve?: boolean;
};
export type RunnerBoardState = MatchBoard & { free: boolean };

export type Placement = { jobId: string; boards: Map<string, RunnerBoardState> };
export type Plan = { placement: Placement | undefined; reservedFor: string[] };

/**
 * Chooses what one runner should start now, scanning queued jobs in scheduling order.
 *
 * Starvation is prevented by reservation with backfill: a job that cannot start now but could run on this runner's
 * boards once busy ones free up reserves a set of boards (free ones first, so the fewest busy boards stand between
 * it and its start). Later jobs may only use boards outside every reservation. The free boards inside a reservation
 * stay idle until the reserving job starts, so their number only grows and the reserving job must eventually fit;
 * without this, a stream of 1-board jobs could keep a 4-board job waiting forever. Also returns the jobs this
 * runner holds boards back for (the allocator records them so only one runner reserves for a job).
 */
export function plan(jobs: readonly QueuedJobForPlan[], boards: readonly RunnerBoardState[]): Plan {
  const reserved = new Set<string>();
  const reservedFor: string[] = [];
  for (const job of jobs) {
    const open = boards.filter((b) => !reserved.has(b.id));
    // Prefer boards a failed attempt of this job did not use, so a retry lands elsewhere when it can.
    const ordered = [...open.filter((b) => !job.avoidBoards.has(b.id)), ...open.filter((b) => job.avoidBoards.has(b.id))];
    const now = matchRoles(
      job.roles,
      ordered.filter((b) => b.free),
      job.sameGroup,
    );
    if (now) return { placement: { jobId: job.id, boards: now }, reservedFor };
    // One runner reserves for a job: if every runner that could host it held boards back, all would drain.
    if (job.mayReserve === false) continue;
    const later = matchRoles(job.roles, [...ordered.filter((b) => b.free), ...ordered.filter((b) => !b.free)], job.sameGroup);
    if (later) {
      for (const b of later.values()) reserved.add(b.id);
      reservedFor.push(job.id);
    }
  }
  return { placement: undefined, reservedFor };
}
