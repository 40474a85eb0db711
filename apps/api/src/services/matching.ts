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

export type RunnerBoardState = MatchBoard & { free: boolean };

/** A queued job as the planner sees it; the fields after `avoidBoards` decide the order jobs are considered in. */
export type QueuedJobForPlan = {
  id: string;
  roles: readonly MatchRole[];
  sameGroup: boolean;
  /** Boards a failed attempt of this job used: a retry prefers others. */
  avoidBoards: ReadonlySet<string>;
  /** Priority class: trigger priority plus aging, in steps (higher first; fair share decides within a class). */
  priority: number;
  /** Fair share key: jobs of the project holding fewer boards go first within a priority class. */
  project: string | null;
  /** Queue order among otherwise equal jobs (earlier first). */
  order: number;
};

/** A runner with its good boards (busy or free) and how many of its lease requests are waiting right now. */
export type RunnerForPlan = { id: string; waiting: number; boards: readonly RunnerBoardState[] };

export type Placement = { jobId: string; runnerId: string; boards: Map<string, RunnerBoardState> };
export type Plan = {
  placements: Placement[];
  /** Job id -> the boards held back for it (it starts on them once their current jobs end). */
  reservations: Map<string, { runnerId: string; boards: string[] }>;
};

export type PlanOptions = {
  /** Running jobs per project before this pass, for fair share. */
  /** Boards each project holds in running jobs before this pass, for fair share. */
  running?: ReadonlyMap<string | null, number>;
  /** Off only to show in tests what reservations prevent. */
  reserve?: boolean;
};

/**
 * One scheduling pass over every waiting runner at once: which queued jobs start now, on which boards.
 *
 * Order: priority class first (priority plus aging, in steps, so aging lifts a waiting job past newer ones without
 * a project's flood that is a minute older outranking every other project); within a class, the project holding
 * fewer boards in running jobs (counting the ones this pass starts, so one project's flood cannot take every board
 * freed at once); then jobs needing more boards, because
 * packing the big jobs first and filling the gaps with small ones is what keeps a saturated lab's makespan close
 * to its lower bound; then queue order.
 *
 * Starvation is prevented by reservation with backfill: a job that cannot start now reserves the boards it would
 * start on soonest (on the runner where the fewest busy boards stand in its way; free boards first). Later jobs
 * may only use boards outside every reservation, so the free part of a reservation only grows until the job fits:
 * a stream of 1-board jobs cannot keep a 4-board job waiting. Each pass recomputes reservations from the database,
 * so API processes need no shared memory, and a reservation moves only to a runner where the job can start now.
 *
 * Boards of a runner with no waiting lease request are never placed on (nobody would run the job), but they count
 * for reservations.
 */
export function planPass(jobs: readonly QueuedJobForPlan[], runners: readonly RunnerForPlan[], options: PlanOptions = {}): Plan {
  const running = new Map(options.running ?? []);
  const reserve = options.reserve ?? true;
  const held = new Set<string>();
  const taken = new Set<string>();
  const waiting = new Map(runners.map((r) => [r.id, r.waiting]));
  // Free boards of each runner that are neither taken nor held, kept up to date rather than recounted: a pass
  // looks at up to a thousand queued jobs, and recounting every runner's boards for each was most of its cost.
  const freeCount = new Map(runners.map((r) => [r.id, r.boards.filter((b) => b.free).length]));
  const placements: Placement[] = [];
  const reservations: Plan["reservations"] = new Map();
  const open = (r: RunnerForPlan) => r.boards.filter((b) => !held.has(b.id) && !taken.has(b.id));
  const freeNow = (r: RunnerForPlan) => open(r).filter((b) => b.free);
  const claim = (runnerId: string, boards: Iterable<RunnerBoardState>, into: Set<string>) => {
    for (const b of boards) {
      into.add(b.id);
      if (b.free) freeCount.set(runnerId, freeCount.get(runnerId)! - 1);
    }
  };
  const canStartAny = () => runners.some((r) => waiting.get(r.id)! > 0 && freeCount.get(r.id)! > 0);

  // Within one project every job has the same running count, so a project's jobs keep one order for the whole
  // pass; the next job overall is the best of the projects' next ones.
  const queues = new Map<string | null, { jobs: QueuedJobForPlan[]; next: number }>();
  // The input position breaks any remaining tie, as the first of equal jobs used to win.
  const position = new Map(jobs.map((j, i) => [j, i]));
  const sorted = [...jobs].sort(
    (a, b) => b.priority - a.priority || b.roles.length - a.roles.length || a.order - b.order || position.get(a)! - position.get(b)!,
  );
  for (const job of sorted) {
    const q = queues.get(job.project) ?? { jobs: [], next: 0 };
    q.jobs.push(job);
    queues.set(job.project, q);
  }
  const rank = (a: QueuedJobForPlan, b: QueuedJobForPlan) =>
    b.priority - a.priority ||
    (running.get(a.project) ?? 0) - (running.get(b.project) ?? 0) ||
    b.roles.length - a.roles.length ||
    a.order - b.order ||
    position.get(a)! - position.get(b)!;
  const take = (): QueuedJobForPlan | undefined => {
    let best: { jobs: QueuedJobForPlan[]; next: number } | undefined;
    for (const q of queues.values()) {
      if (q.next < q.jobs.length && (!best || rank(q.jobs[q.next]!, best.jobs[best.next]!) < 0)) best = q;
    }
    return best?.jobs[best.next++];
  };

  // Boards only ever leave the pool during a pass, so a need that could not start now (or reserve) cannot later
  // in the same pass: the next job with the same need is skipped without searching again.
  const cannotStart = new Set<string>();
  const cannotReserve = new Set<string>();

  for (let job = take(); job && canStartAny(); job = take()) {
    const shape = shapeOf(job);
    const preferred = (boards: RunnerBoardState[]) => [
      ...boards.filter((b) => !job.avoidBoards.has(b.id)),
      ...boards.filter((b) => job.avoidBoards.has(b.id)),
    ];

    // Now: on a waiting runner; best fit (fewest free boards first) keeps whole runners free for big jobs.
    let placed = false;
    if (!cannotStart.has(shape)) {
      const hosts = runners
        .filter((r) => waiting.get(r.id)! > 0 && freeCount.get(r.id)! >= job.roles.length)
        .map((r) => ({ r, free: freeNow(r) }))
        .sort((a, b) => a.free.length - b.free.length || (a.r.id < b.r.id ? -1 : 1));
      // A retry goes where it needs the fewest boards a failed attempt used (on another runner if need be),
      // and only then by best fit; a first attempt (nothing to avoid) takes the first, best-fitting host.
      let best: { r: RunnerForPlan; boards: Map<string, RunnerBoardState>; avoided: number } | undefined;
      for (const { r, free } of hosts) {
        const boards = matchRoles(job.roles, preferred(free), job.sameGroup);
        if (!boards) continue;
        const avoided = job.avoidBoards.size === 0 ? 0 : [...boards.values()].filter((b) => job.avoidBoards.has(b.id)).length;
        if (!best || avoided < best.avoided) best = { r, boards, avoided };
        if (avoided === 0) break;
      }
      if (best) {
        const { r, boards } = best;
        claim(r.id, boards.values(), taken);
        waiting.set(r.id, waiting.get(r.id)! - 1);
        running.set(job.project, (running.get(job.project) ?? 0) + job.roles.length);
        placements.push({ jobId: job.id, runnerId: r.id, boards });
        placed = true;
      } else cannotStart.add(shape);
    }
    if (placed || !reserve || cannotReserve.has(shape)) continue;

    // Later: the runner where the fewest busy boards stand between the job and its start.
    let choice: { runnerId: string; boards: RunnerBoardState[]; busy: number } | undefined;
    for (const r of runners) {
      const candidates = open(r);
      // With one group required, each group of the runner is a separate option (the first group that matches at
      // all may be the busiest).
      const pools = job.sameGroup
        ? [...new Set(candidates.map((b) => b.group).filter((g): g is string => g !== null))].map((g) =>
            candidates.filter((b) => b.group === g),
          )
        : [candidates];
      for (const pool of pools) {
        const later = matchRoles(job.roles, [...preferred(pool.filter((b) => b.free)), ...preferred(pool.filter((b) => !b.free))], false);
        if (!later) continue;
        const boards = [...later.values()];
        const busy = boards.filter((b) => !b.free).length;
        if (!choice || busy < choice.busy || (busy === choice.busy && r.id < choice.runnerId)) choice = { runnerId: r.id, boards, busy };
      }
    }
    if (!choice) {
      cannotReserve.add(shape);
      continue;
    }
    claim(choice.runnerId, choice.boards, held);
    reservations.set(job.id, { runnerId: choice.runnerId, boards: choice.boards.map((b) => b.id) });
  }
  return { placements, reservations };
}

/** What decides whether a job fits some boards (types, tags, one group), not which boards it prefers. */
const shapes = new WeakMap<QueuedJobForPlan, string>();
function shapeOf(job: QueuedJobForPlan): string {
  let shape = shapes.get(job);
  if (shape === undefined) {
    const roles = job.roles.map((r) => JSON.stringify([r.boardType, [...(r.tags ?? [])].sort()])).sort();
    shape = JSON.stringify([job.sameGroup, roles]);
    shapes.set(job, shape);
  }
  return shape;
}

/** A board as the "why is this job waiting" diagnosis sees it: every present board, whatever its state. */
export type InventoryBoard = MatchBoard & { runner: string; online: boolean; health: string; busy: boolean };

/** "nucleo_f429zi [eth]": a role's board type and required tags. */
const roleLabel = (r: MatchRole) => `${r.boardType}${r.tags && r.tags.length > 0 ? ` [${[...r.tags].sort().join(", ")}]` : ""}`;

/** "2 × nrf52840dk in one group on one runner": what a job needs, for people. */
export function describeNeed(roles: readonly MatchRole[], sameGroup: boolean): string {
  const counts = new Map<string, number>();
  for (const r of roles) counts.set(roleLabel(r), (counts.get(roleLabel(r)) ?? 0) + 1);
  const parts = [...counts].map(([k, n]) => (n > 1 ? `${n} × ${k}` : k));
  return `${parts.join(" + ")}${sameGroup ? " in one group" : ""} on one runner`;
}

const list = (names: string[], max = 6) =>
  names.length > max ? `${names.slice(0, max).join(", ")} and ${names.length - max} more` : names.join(", ");

/**
 * Why a queued job has not started, from the lab inventory: no such boards at all, not enough on one runner (or in
 * one group), their runners offline, the boards unhealthy (and which), or simply busy. Each step narrows the
 * boards the job could use, so the first one that leaves no match is the reason a maintainer has to act on.
 */
export function whyWaiting(job: { roles: readonly MatchRole[]; sameGroup: boolean }, boards: readonly InventoryBoard[]): string {
  const need = describeNeed(job.roles, job.sameGroup);
  const runners = new Map<string, InventoryBoard[]>();
  for (const b of boards) runners.set(b.runner, [...(runners.get(b.runner) ?? []), b]);
  const hostsWith = (ok: (b: InventoryBoard) => boolean) =>
    [...runners].filter(([, bs]) => matchRoles(job.roles, bs.filter(ok), job.sameGroup) !== undefined).map(([name]) => name);
  const usable = (b: InventoryBoard) => job.roles.some((r) => fits(r, b));

  const anywhere = hostsWith(() => true);
  if (anywhere.length === 0) {
    const missing = [...new Set(job.roles.filter((r) => !boards.some((b) => fits(r, b))).map(roleLabel))];
    if (missing.length > 0) return `no runner has a ${missing.join(" or ")} board (needs ${need})`;
    return `no runner has ${need}`;
  }
  const online = hostsWith((b) => b.online);
  if (online.length === 0) return `needs ${need}: the runners that have them are offline (${list(anywhere)})`;
  if (hostsWith((b) => b.online && b.health === "good").length === 0) {
    const doubtful = boards
      .filter((b) => b.online && online.includes(b.runner) && usable(b) && b.health !== "good")
      .map((b) => `${b.name} ${b.health === "unknown" ? "(waiting for a health check)" : `(${b.health})`}`);
    return `needs ${need}: the boards that could run it are not healthy: ${list(doubtful)}`;
  }
  const candidates = boards.filter((b) => b.online && b.health === "good" && usable(b));
  const busy = candidates.filter((b) => b.busy).length;
  if (hostsWith((b) => b.online && b.health === "good" && !b.busy).length === 0)
    return `waiting for ${need}: ${busy} of the ${candidates.length} healthy matching board(s) are busy; it starts when enough are free`;
  // Enough free boards exist: jobs ahead of it in the queue hold them, or their runner has not asked for work yet
  // (a runner that runs one job at a time asks again when its current job ends).
  return `queued for ${need}: free boards are held for jobs ahead of it, or their runner is busy with another job`;
}
