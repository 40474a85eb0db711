import { describe, expect, it } from "vitest";
import { Scheduler } from "./scheduler.ts";

describe("Scheduler / virtual clock", () => {
  it("runs events in time order, ties in insertion order, and advances only while sleeping", async () => {
    const s = new Scheduler();
    const seen: string[] = [];
    s.at(300, () => seen.push("c@300"));
    s.at(100, () => seen.push("a@100"));
    s.at(100, () => seen.push("b@100"));
    s.at(5_000, () => seen.push("late"));
    expect(s.clock.now()).toBe(0);
    await s.clock.sleep(1); // 1 ms = 1000 us
    expect(seen).toEqual(["a@100", "b@100", "c@300"]);
    expect(s.clock.now()).toBe(1);
    await s.clock.sleep(4);
    expect(seen).toEqual(["a@100", "b@100", "c@300", "late"]);
  });

  it("lets events schedule more events and cancels handles", async () => {
    const s = new Scheduler();
    let ticks = 0;
    const tick = (): void => {
      ticks++;
      s.after(1000, tick);
    };
    s.after(1000, tick);
    const cancelled = s.after(500, () => {
      throw new Error("cancelled event ran");
    });
    cancelled.cancel();
    await s.clock.sleep(10);
    // The tick due exactly at 10 ms was scheduled after the sleep began, so it runs after the sleeper wakes.
    expect(ticks).toBe(9);
    await s.clock.sleep(0);
    expect(ticks).toBe(10);
  });

  it("wakes concurrent sleepers at their own virtual times", async () => {
    const s = new Scheduler();
    const woke: number[] = [];
    await Promise.all([s.clock.sleep(30).then(() => woke.push(s.clock.now())), s.clock.sleep(10).then(() => woke.push(s.clock.now()))]);
    expect(woke).toEqual([10, 30]);
  });

  it("rejects with the abort reason and stops advancing", async () => {
    const s = new Scheduler();
    let n = 0;
    const tick = (): void => {
      n++;
      s.after(100, tick);
    };
    tick();
    const ac = new AbortController();
    const p = s.clock.sleep(1_000_000, ac.signal);
    setTimeout(() => ac.abort(new Error("stop")), 5);
    await expect(p).rejects.toThrow("stop");
    const at = s.clock.now();
    expect(at).toBeLessThan(1_000_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.clock.now()).toBe(at);
    await expect(s.clock.sleep(1, AbortSignal.abort(new Error("already")))).rejects.toThrow("already");
    expect(n).toBeGreaterThan(0);
  });

  it("yields to the Node event loop during a long sleep", async () => {
    const s = new Scheduler();
    const tick = (): void => void s.after(10, tick);
    tick();
    let timerFiredAtVirtualMs: number | undefined;
    setTimeout(() => {
      timerFiredAtVirtualMs = s.clock.now();
    }, 0);
    await s.clock.sleep(5_000); // 500k events
    expect(timerFiredAtVirtualMs).toBeDefined();
    expect(timerFiredAtVirtualMs).toBeLessThan(5_000);
  });

  it("rejects a non-finite duration instead of corrupting the queue", async () => {
    await expect(new Scheduler().clock.sleep(Number.NaN)).rejects.toThrow(RangeError);
  });

  it("fails pending sleeps when an event throws", async () => {
    const s = new Scheduler();
    s.after(10, () => {
      throw new Error("model bug");
    });
    await expect(s.clock.sleep(1)).rejects.toThrow("model bug");
  });
});
