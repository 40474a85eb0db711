import { describe, expect, it } from "vitest";
import { judgeBusy, judgeDiscovery, judgeRemotePanic, judgeRestart, judgeRot13, kernelLines, parseGid } from "./judge.ts";

const k0 = (lines: string[]): string => lines.map((l) => `[k0] ${l}\n`).join("");

describe("ipc judges", () => {
  it("separates kernels by tag and parses global ids", () => {
    expect(kernelLines("[k0] a\n[k1] b\n[k0] c\n[k0] partial", 0)).toEqual(["a", "c"]);
    expect(parseGid("k1:p0:g2")).toEqual({ kernel: 1, pid: 0, generation: 2 });
    expect(parseGid("k1:p0")).toBeUndefined();
  });

  it("rot13 needs the exact first five lines from kernel 0", () => {
    const good = ["12: Hello World!", "12: Uryyb Jbeyq!", "12: Hello World!", "12: Uryyb Jbeyq!", "12: Hello World!"];
    expect(judgeRot13(k0(good)).pass).toBe(true);
    expect(judgeRot13(k0(["12: Uryyb Jbeyq!", ...good])).pass).toBe(false);
    expect(judgeRot13(good.map((l) => `[k1] ${l}\n`).join("")).pass).toBe(false);
    expect(judgeRot13(k0(["No rot13 service"])).message).toBe(`rot13: expected ${JSON.stringify(good)}, got ["No rot13 service"]`);
  });

  it("discovery needs the remote id on kernel 1", () => {
    const ok = k0([
      "discover ipc_echo_local -> OK k0:p1:g1",
      "discover ipc_echo_remote -> OK k1:p0:g1",
      "discover no_such_service -> NODEVICE",
    ]);
    expect(judgeDiscovery(ok).pass).toBe(true);
    expect(judgeDiscovery(ok.replace("OK k1:p0:g1", "OK k0:p0:g1")).pass).toBe(false);
  });

  it("busy and restart", () => {
    expect(judgeBusy(k0(["in flight: first send OK, second send BUSY"])).pass).toBe(true);
    expect(judgeBusy(k0(["in flight: first send OK, second send OK"])).message).toBe(
      'busy: expected "first send OK, second send BUSY"; saw "in flight: first send OK, second send OK"',
    );
    const restart = k0([
      "discover ipc_echo_remote -> OK k1:p0:g1",
      "send to k1:p0:g1 after restart -> STALE",
      "discover ipc_echo_remote -> OK k1:p0:g2",
      'request k1:p0:g2 "after restart" -> "AFTER RESTART" response copies 2',
    ]);
    expect(judgeRestart(restart).pass).toBe(true);
    expect(judgeRestart(restart.replace("-> STALE", "-> OK")).pass).toBe(false);
    expect(judgeRestart(restart.replace("OK k1:p0:g2", "OK k1:p0:g1")).pass).toBe(false);
  });

  it("remote panic needs the panic, a bounded timeout and kernel 0 alive afterwards", () => {
    const beats = [1, 2, 3, 4, 5].map((n) => `heartbeat ${n}`);
    const after = k0([
      "send to k1:p0:g2 after remote panic -> TIMEOUT in 300 ms (timeout 300 ms)",
      'request k0:p1:g1 "still here" -> "STILL HERE" response copies 1',
      ...beats,
    ]);
    expect(judgeRemotePanic("[k1] panicked at kernel/src/kernel.rs:486:17:\n" + after).pass).toBe(true);
    expect(judgeRemotePanic(after).pass).toBe(false);
    expect(judgeRemotePanic("[k1] panicked at x\n" + after.replace("in 300 ms", "in 900 ms")).pass).toBe(false);
    expect(
      judgeRemotePanic("[k1] panicked at x\n" + k0(["send to k1:p0:g2 after remote panic -> TIMEOUT in 300 ms (timeout 300 ms)"])).message,
    ).toContain("local IPC false, 0 heartbeats");
  });
});
