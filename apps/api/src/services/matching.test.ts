import { describe, expect, it } from "vitest";
import { matchRoles, planPass, whyWaiting } from "./matching.ts";
import type { InventoryBoard } from "./matching.ts";
import type { QueuedJobForPlan, RunnerBoardState as Boards, RunnerForPlan } from "./matching.ts";
import type { RunnerBoardState } from "./matching.ts";

const board = (id: string, over: Partial<RunnerBoardState> = {}): RunnerBoardState => ({
  id,
  name: id,
  type: "nrf",
  tags: [],
  group: "g1",
  free: true,
  ...over,
});
const roles = (n: number, extra: { tags?: string[] } = {}) =>
  Array.from({ length: n }, (_, i) => ({ role: `r${i}`, boardType: "nrf", ...extra }));

describe("matchRoles", () => {
  it("assigns distinct boards of the right type and tags, or nothing", () => {
    const boards = [board("a", { tags: ["ext"] }), board("b"), board("c", { type: "pico" })];
    const m = matchRoles(
      [
        { role: "tx", boardType: "nrf" },
        { role: "rx", boardType: "nrf", tags: ["ext"] },
      ],
      boards,
      false,
    );
    expect(m && Object.fromEntries([...m].map(([r, b]) => [r, b.id]))).toEqual({ tx: "b", rx: "a" });
    expect(matchRoles(roles(3), boards, false)).toBeUndefined();
  });

  it("backtracks when a greedy choice blocks a later role", () => {
    // r0 accepts a or b, r1 only a: greedy r0=a would fail.
    const boards = [board("a", { tags: ["x"] }), board("b")];
    const m = matchRoles(
      [
        { role: "r0", boardType: "nrf" },
        { role: "r1", boardType: "nrf", tags: ["x"] },
      ],
      boards,
      false,
    );
    expect(m?.get("r1")?.id).toBe("a");
    expect(m?.get("r0")?.id).toBe("b");
  });

  it("keeps all roles in one group when asked", () => {
    const boards = [board("a", { group: "g1" }), board("b", { group: "g2" }), board("c", { group: "g2" })];
    const m = matchRoles(roles(2), boards, true);
    expect([...(m?.values() ?? [])].map((b) => b.group)).toEqual(["g2", "g2"]);
    expect(matchRoles(roles(3), boards, true)).toBeUndefined();
    expect(matchRoles(roles(3), boards, false)).toBeDefined();
  });
});

let order = 0;
const job = (id: string, n: number, over: Partial<QueuedJobForPlan> = {}): QueuedJobForPlan => ({
  id,
  roles: roles(n),
  sameGroup: false,
  avoidBoards: new Set(),
  priority: 100,
  project: null,
  order: order++,
  ...over,
});
const runner = (id: string, boards: Boards[], waiting = 1): RunnerForPlan => ({ id, waiting, boards });
const placed = (p: ReturnType<typeof planPass>) =>
  p.placements.map((x) => `${x.jobId}@${x.runnerId}:${[...x.boards.values()].map((b) => b.id).join("+")}`);

describe("planPass", () => {
  it("starts the first job that fits on free boards", () => {
    const p = planPass([job("j1", 1)], [runner("R", [board("a"), board("b", { free: false })])]);
    expect(placed(p)).toEqual(["j1@R:a"]);
  });

  it("reserves boards for a big job so a stream of small jobs cannot starve it", () => {
    // The 4-board job is at the head; 2 of 5 boards are busy. It reserves the 3 free boards and 1 busy one.
    const boards = [board("a"), board("b"), board("c"), board("d", { free: false }), board("e", { free: false })];
    const jobs = [job("big", 4), job("small", 1)];
    const first = planPass(jobs, [runner("R", boards)]);
    expect(placed(first)).toEqual([]);
    expect(first.reservations.get("big")?.boards).toEqual(["a", "b", "c", "d"]);
    // Without the reservation the small job would take a free board and the big job would wait again.
    expect(placed(planPass(jobs, [runner("R", boards)], { reserve: false }))).toEqual(["small@R:a"]);
    // Whichever busy board frees first, the big job starts: the small job never took a reserved free board.
    boards[4]!.free = true;
    expect(placed(planPass(jobs, [runner("R", boards)]))).toEqual(["big@R:a+b+c+e"]);
  });

  it("backfills small jobs onto boards outside the reservation", () => {
    const boards = [board("a"), board("b"), board("c", { free: false }), board("d", { free: false }), board("e", { group: "g2" })];
    const p = planPass([job("big", 4, { sameGroup: true }), job("small", 1)], [runner("R", boards)]);
    expect(placed(p)).toEqual(["small@R:e"]);
  });

  it("lets a small job run when the big job can never fit anywhere", () => {
    expect(placed(planPass([job("big", 4), job("small", 1)], [runner("R", [board("a"), board("b")])]))).toEqual(["small@R:a"]);
  });

  it("prefers boards a failed attempt did not use", () => {
    const p = planPass([job("j", 1, { avoidBoards: new Set(["a"]) })], [runner("R", [board("a"), board("b")])]);
    expect(placed(p)).toEqual(["j@R:b"]);
  });

  it("moves a retry to another runner rather than back onto the boards its failed attempt used", () => {
    // Best fit alone would pick A (2 free boards, exactly enough); A's boards are the ones the attempt failed on.
    const retry = job("j", 2, { avoidBoards: new Set(["a1", "a2"]) });
    const runners = [runner("A", [board("a1"), board("a2")]), runner("B", [board("b1"), board("b2"), board("b3"), board("b4")])];
    expect(placed(planPass([retry], runners))).toEqual(["j@B:b1+b2"]);
    // With nowhere else to go, it still runs on them.
    expect(placed(planPass([retry], [runners[0]!]))).toEqual(["j@A:a1+a2"]);
    // A first attempt keeps best fit.
    expect(placed(planPass([job("k", 2)], runners))).toEqual(["k@A:a1+a2"]);
  });

  it("starts jobs on several runners in one pass, one per waiting request", () => {
    const p = planPass(
      [job("j1", 1), job("j2", 1), job("j3", 1), job("j4", 1)],
      [runner("A", [board("a1"), board("a2")], 2), runner("B", [board("b1"), board("b2")], 1)],
    );
    expect(placed(p)).toEqual(["j1@A:a1", "j2@A:a2", "j3@B:b1"]);
  });

  it("never places on a runner that is not asking, but reserves there when that is soonest", () => {
    const idle = runner("Q", [board("q1"), board("q2")], 0);
    const busy = runner("W", [board("w1"), board("w2", { free: false })], 1);
    const p = planPass([job("pair", 2), job("one", 1)], [idle, busy]);
    // The pair fits on Q's free boards at once (nothing busy in the way): held there, and "one" runs on W.
    expect(p.reservations.get("pair")).toEqual({ runnerId: "Q", boards: ["q1", "q2"] });
    expect(placed(p)).toEqual(["one@W:w1"]);
  });

  it("packs bigger jobs first among equal priorities, best fit, and lets priority win over size", () => {
    const r = () => [runner("A", [board("a1"), board("a2"), board("a3", { free: false })], 2), runner("B", [board("b1"), board("b2")], 2)];
    // The pair is considered first (bigger) and fits on A and B alike (2 free each, tie broken by id); the single
    // then goes to B. With a higher priority the single goes first, to A (best fit on a tie, by id).
    expect(placed(planPass([job("one", 1), job("pair", 2)], r()))).toEqual(["pair@A:a1+a2", "one@B:b1"]);
    expect(placed(planPass([job("one", 1, { priority: 200 }), job("pair", 2)], r()))).toEqual(["one@A:a1", "pair@B:b1+b2"]);
  });

  it("shares boards between projects: the project holding fewer boards goes first, counting this pass", () => {
    const jobs = [
      job("a1", 1, { project: "A" }),
      job("a2", 1, { project: "A" }),
      job("a3", 1, { project: "A" }),
      job("b1", 1, { project: "B" }),
    ];
    const boards = [board("x"), board("y")];
    expect(placed(planPass(jobs, [runner("R", boards, 2)])).map((s) => s.split("@")[0])).toEqual(["a1", "b1"]);
    const busyA = new Map([["A", 3]]);
    expect(placed(planPass(jobs, [runner("R", boards, 2)], { running: busyA })).map((s) => s.split("@")[0])).toEqual(["b1", "a1"]);
  });

  it("reserves the group where the fewest busy boards stand in the way of a job that needs one group", () => {
    // Group g1 sorts first but has 1 free and 2 busy; g2 has 2 free and 1 busy.
    const boards = [
      board("a", { group: "g1" }),
      board("b", { group: "g1", free: false }),
      board("c", { group: "g1", free: false }),
      board("d", { group: "g2" }),
      board("e", { group: "g2" }),
      board("f", { group: "g2", free: false }),
    ];
    const p = planPass([job("trio", 3, { sameGroup: true }), job("one", 1)], [runner("R", boards, 1)]);
    expect(p.reservations.get("trio")?.boards.sort()).toEqual(["d", "e", "f"]);
    expect(placed(p)).toEqual(["one@R:a"]);
  });

  it("shares by boards held, not jobs: a project's 2-board job counts twice", () => {
    const jobs = [
      job("a-big", 2, { project: "A" }),
      job("a-small", 1, { project: "A" }),
      job("b1", 1, { project: "B" }),
      job("b2", 1, { project: "B" }),
    ];
    const boards = ["v", "w", "x", "y", "z"].map((id) => board(id));
    // After a-big, A holds 2 boards: both of B's jobs go before a-small (counting jobs, a-small would tie with b2).
    const order = placed(planPass(jobs, [runner("R", boards, 4)])).map((p) => p.split("@")[0]);
    expect(order).toEqual(["a-big", "b1", "b2", "a-small"]);
  });

  it("looks past a long run of jobs that cannot start to one that can, and still reserves for the first of them", () => {
    // 500 jobs for the busy stm boards ahead of one pico job; the only free board is a pico.
    const stuck = Array.from({ length: 500 }, (_, i) => job(`stm${i}`, 1, { roles: [{ role: "dut", boardType: "stm" }] }));
    const boards = [board("p", { type: "pico" }), board("s1", { type: "stm", free: false }), board("s2", { type: "stm", free: false })];
    const p = planPass([...stuck, job("pico", 1, { roles: [{ role: "dut", boardType: "pico" }] })], [runner("R", boards)]);
    expect(placed(p)).toEqual(["pico@R:p"]);
    // The first two stm jobs hold the two stm boards; the rest wait behind them, holding nothing.
    expect([...p.reservations.keys()]).toEqual(["stm0", "stm1"]);
  });

  it("orders projects by running jobs even when their jobs arrive interleaved and out of order", () => {
    const jobs = [job("b1", 1, { project: "B" }), job("a1", 1, { project: "A", priority: 150 }), job("a2", 1, { project: "A" })];
    const r = runner("R", [board("x"), board("y"), board("z")], 3);
    // Priority first (a1); then B has fewer running jobs than A (one, counting this pass): b1 before a2.
    expect(placed(planPass(jobs, [r])).map((s) => s.split("@")[0])).toEqual(["a1", "b1", "a2"]);
  });
});

describe("whyWaiting", () => {
  const inv = (name: string, over: Partial<InventoryBoard> = {}): InventoryBoard => ({
    id: name,
    name,
    type: "nrf",
    tags: [],
    group: "g1",
    runner: "rack-1",
    online: true,
    health: "good",
    busy: false,
    ...over,
  });
  const job = (n: number, sameGroup = true, boardType = "nrf") => ({
    roles: Array.from({ length: n }, (_, i) => ({ role: `r${i}`, boardType })),
    sameGroup,
  });

  it("names a board type (with its tags) nobody has", () => {
    expect(whyWaiting(job(1, false, "pico"), [inv("a")])).toBe("no runner has a pico board (needs pico on one runner)");
    const tagged = { roles: [{ role: "r0", boardType: "nrf", tags: ["pa"] }], sameGroup: false };
    expect(whyWaiting(tagged, [inv("a")])).toBe("no runner has a nrf [pa] board (needs nrf [pa] on one runner)");
  });

  it("says when no one runner (or group) has enough boards", () => {
    const boards = [inv("a"), inv("b", { group: "g2" }), inv("c", { runner: "rack-2" })];
    expect(whyWaiting(job(2), boards)).toBe("no runner has 2 × nrf in one group on one runner");
    expect(whyWaiting(job(2, false), boards)).not.toMatch(/^no runner/);
  });

  it("names the offline runners that have the boards", () => {
    const boards = [inv("a", { online: false }), inv("b", { online: false }), inv("c", { runner: "rack-2" })];
    expect(whyWaiting(job(2), boards)).toBe("needs 2 × nrf in one group on one runner: the runners that have them are offline (rack-1)");
  });

  it("lists the boards whose health keeps the job out", () => {
    const boards = [inv("a", { health: "bad" }), inv("b", { health: "unknown" }), inv("c", { health: "maintenance", type: "pico" })];
    expect(whyWaiting(job(2), boards)).toBe(
      "needs 2 × nrf in one group on one runner: the boards that could run it are not healthy: a (bad), b (waiting for a health check)",
    );
  });

  it("tells busy boards from free boards held for other work", () => {
    expect(whyWaiting(job(2), [inv("a", { busy: true }), inv("b")])).toBe(
      "waiting for 2 × nrf in one group on one runner: 1 of the 2 healthy matching board(s) are busy; it starts when enough are free",
    );
    expect(whyWaiting(job(1), [inv("a", { busy: true }), inv("b")])).toMatch(
      /^queued for nrf in one group on one runner: free boards are held/,
    );
  });
});
