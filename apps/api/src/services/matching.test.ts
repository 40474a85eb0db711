import { describe, expect, it } from "vitest";
import { matchRoles, plan } from "./matching.ts";
import type { QueuedJobForPlan, RunnerBoardState as Boards } from "./matching.ts";
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

const placement = (jobs: QueuedJobForPlan[], boards: Boards[]) => plan(jobs, boards).placement;

describe("plan", () => {
  it("starts the first job that fits on free boards", () => {
    const boards = [board("a"), board("b", { free: false })];
    const p = placement([{ id: "j1", roles: roles(1), sameGroup: false, avoidBoards: new Set() }], boards);
    expect(p?.jobId).toBe("j1");
    expect(p?.boards.get("r0")?.id).toBe("a");
  });

  it("reserves boards for a big job so a stream of small jobs cannot starve it", () => {
    // The 4-board job is at the head; 2 of 5 boards are busy. It reserves the 3 free boards and 1 busy one.
    const boards = [board("a"), board("b"), board("c"), board("d", { free: false }), board("e", { free: false })];
    const big = { id: "big", roles: roles(4), sameGroup: false, avoidBoards: new Set<string>() };
    const small = { id: "small", roles: roles(1), sameGroup: false, avoidBoards: new Set<string>() };
    expect(placement([big, small], boards)).toBeUndefined();
    // Whichever busy board frees first, the big job starts: the small job never took a reserved free board.
    boards[4]!.free = true;
    expect(placement([big, small], boards)).toMatchObject({ jobId: "big" });
  });

  it("backfills small jobs onto boards outside the reservation", () => {
    const boards = [board("a"), board("b"), board("c", { free: false }), board("d", { free: false }), board("e", { group: "g2" })];
    const big = { id: "big", roles: roles(4), sameGroup: true, avoidBoards: new Set<string>() };
    const small = { id: "small", roles: roles(1), sameGroup: false, avoidBoards: new Set<string>() };
    const p = placement([big, small], boards);
    expect(p?.jobId).toBe("small");
    expect(p?.boards.get("r0")?.id).toBe("e");
  });

  it("lets a small job run when the big job can never fit on this runner", () => {
    const boards = [board("a"), board("b")];
    const p = placement(
      [
        { id: "big", roles: roles(4), sameGroup: false, avoidBoards: new Set() },
        { id: "small", roles: roles(1), sameGroup: false, avoidBoards: new Set() },
      ],
      boards,
    );
    expect(p?.jobId).toBe("small");
  });

  it("prefers boards a failed attempt did not use", () => {
    const p = placement([{ id: "j", roles: roles(1), sameGroup: false, avoidBoards: new Set(["a"]) }], [board("a"), board("b")]);
    expect(p?.boards.get("r0")?.id).toBe("b");
  });

  it("does not hold boards back for a job another runner already reserves, so small jobs keep running here", () => {
    const boards = [board("a"), board("b", { free: false })];
    const big = { id: "big", roles: roles(2), sameGroup: false, avoidBoards: new Set<string>(), mayReserve: false };
    const small = { id: "small", roles: roles(1), sameGroup: false, avoidBoards: new Set<string>() };
    expect(plan([big, small], boards)).toEqual({ placement: expect.objectContaining({ jobId: "small" }), reservedFor: [] });
    expect(plan([{ ...big, mayReserve: true }, small], boards)).toEqual({ placement: undefined, reservedFor: ["big"] });
  });
});
