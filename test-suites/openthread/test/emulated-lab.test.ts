/** The OpenThread suite end to end on a 4-board emulated lab, with mutation checks and replay. */
import { describe, expect, it } from "vitest";
import type { Faults, Suite } from "@tock-hil/board";
import { decodePcap, runSuiteOnEmulatedLab } from "@tock-hil/emulator";
import { suite } from "../src/index.ts";

const only = (...names: string[]): Suite => ({ manifest: suite.manifest, tests: suite.tests.filter((t) => names.includes(t.name)) });
const run = (seed: number, faults?: Faults, s: Suite = suite) => runSuiteOnEmulatedLab(s, { seed, faults });

describe("openthread suite on the emulated lab", () => {
  it("passes every test with no faults, and the capture is clean", async () => {
    const { outcomes, captures } = await run(1);
    for (const t of suite.tests) expect(outcomes.get(t.name)?.status, `${t.name}: ${outcomes.get(t.name)?.message}`).toBe("pass");
    expect(Number(outcomes.get("openthread_hello")?.measurements?.attachMs)).toBeLessThan(10_000);
    expect(outcomes.get("ping")?.measurements?.replies).toBe(3);
    expect(captures.map((c) => c.name)).toEqual(["ieee802154-ch26.pcap"]);
    const pcap = decodePcap(captures[0]?.bytes ?? new Uint8Array());
    expect(pcap.records.length).toBeGreaterThan(50);
    expect(pcap.records.filter((r) => !r.fcsOk)).toHaveLength(0);
  });

  it("fails openthread_hello when the router is absent", async () => {
    const { outcomes } = await run(1, { routerAbsent: true }, only("openthread_hello"));
    expect(outcomes.get("openthread_hello")?.status).toBe("fail");
    expect(outcomes.get("openthread_hello")?.message).toBe(
      'openthread_hello: no "Successfully attached to Thread network as a child." within 10 s of reset (node stayed detached)',
    );
  });

  it("fails attach-dependent tests when the node has the wrong network key, while the negative test still passes", async () => {
    const { outcomes } = await run(2, { wrongNetworkKey: true }, only("openthread_hello", "udp_router_to_node", "wrong_network_key"));
    expect(outcomes.get("openthread_hello")?.status).toBe("fail");
    expect(outcomes.get("udp_router_to_node")?.status).toBe("fail");
    expect(outcomes.get("wrong_network_key")?.status).toBe("pass");
  });

  it("fails ping when the node hangs right after attaching", async () => {
    const { outcomes } = await run(3, { boardHang: [{ target: "openthread_hello", afterMs: 2000 }] }, only("ping"));
    expect(outcomes.get("ping")?.status).toBe("fail");
    expect(outcomes.get("ping")?.message).toMatch(/^ping: [01] of 3 echo replies from fd/);
  });

  it("fails UDP to the router when channel 26 is jammed after attach", async () => {
    const { outcomes } = await run(4, { jamming: [{ channel: 26, fromMs: 0 }] }, only("udp_node_to_router"));
    expect(outcomes.get("udp_node_to_router")?.status).toBe("fail");
  });

  it("reproduces the same transcripts from the same seed", async () => {
    const s = only("openthread_hello", "ping");
    const a = await run(7, { loss: 0.2 }, s);
    const b = await run(7, { loss: 0.2 }, s);
    expect(b.transcripts).toEqual(a.transcripts);
    expect(a.transcripts.node).toContain("Successfully attached");
  });
});
