import { describe, expect, it } from "vitest";
import { assertTransition, canTransition, IllegalTransitionError, runOutcome } from "./states.ts";

describe("state transitions", () => {
  it("allows the forward path of a run and refuses to leave a final state", () => {
    expect(canTransition("run", "queued", "running")).toBe(true);
    expect(canTransition("run", "running", "passed")).toBe(true);
    expect(canTransition("run", "passed", "running")).toBe(false);
    expect(() => assertTransition("run", "r1", "failed", "passed")).toThrow(IllegalTransitionError);
  });

  it("lets a running job go back to queued for a retry, but not a finished one", () => {
    expect(canTransition("job", "running", "queued")).toBe(true);
    expect(canTransition("job", "error", "queued")).toBe(false);
  });

  it("never reopens an attempt", () => {
    expect(canTransition("attempt", "error", "running")).toBe(false);
    expect(canTransition("attempt", "running", "error")).toBe(true);
  });

  it("brings a bad, retired or maintained board back only through unknown (a health check)", () => {
    expect(canTransition("board", "unknown", "good")).toBe(true);
    expect(canTransition("board", "bad", "good")).toBe(false);
    expect(canTransition("board", "retired", "maintenance")).toBe(false);
    expect(canTransition("board", "maintenance", "good")).toBe(false);
    for (const from of ["bad", "maintenance", "retired"]) expect(canTransition("board", from, "unknown")).toBe(true);
  });

  it("derives a run's outcome from its jobs", () => {
    expect(runOutcome(["passed", "passed"])).toBe("passed");
    expect(runOutcome(["passed", "error"])).toBe("error");
    expect(runOutcome(["error", "failed"])).toBe("failed");
    expect(runOutcome(["failed", "cancelled"])).toBe("cancelled");
  });
});
