/** Runs the IPC suite end to end on an emulated lab (one two-kernel board). */
import { describe, expect, it } from "vitest";
import type { Faults } from "@tock-hil/board";
import { createEmulatedLab, runSuiteOnEmulatedLab } from "@tock-hil/emulator";
import { suite } from "../src/index.ts";

const run = (faults?: Faults) =>
  runSuiteOnEmulatedLab(suite, {
    seed: 5,
    faults,
    lab: createEmulatedLab({ boards: [{ name: "mk-1", type: "qemu_rv32_virt_multikernel" }] }),
  });

describe("ipc suite on the emulated lab", () => {
  it("passes every test with no faults", async () => {
    const r = await run();
    for (const t of suite.tests) expect(r.outcomes.get(t.name)?.status, `${t.name}: ${r.outcomes.get(t.name)?.message}`).toBe("pass");
    expect(r.outcomes.get("request_response")?.measurements).toEqual({
      localRequestCopies: 1,
      localResponseCopies: 1,
      remoteRequestCopies: 2,
      remoteResponseCopies: 2,
    });
    expect(r.outcomes.get("restart_generation")?.measurements).toMatchObject({ oldGeneration: 1, newGeneration: 2 });
  });

  it("fails request_response with a timeout when the remote service is silent (fault ipcSilentService)", async () => {
    const r = await run({ ipcSilentService: true });
    const rr = r.outcomes.get("request_response");
    expect(rr?.status).toBe("fail");
    expect(rr?.message).toContain('"hello remote" -> TIMEOUT after 500 ms (no response)');
    expect(r.outcomes.get("rot13")?.status).toBe("pass");
  });

  it("fails the cross-kernel tests when kernel 1 panics at boot (fault ipcRemotePanic) but rot13 on kernel 0 still passes", async () => {
    const r = await run({ ipcRemotePanic: true });
    expect(r.outcomes.get("rot13")?.status).toBe("pass");
    const d = r.outcomes.get("discovery");
    expect(d?.status).toBe("fail");
    expect(d?.message).toMatch(/remote not found/);
    expect(r.transcripts.dut).toContain("[k0] discover ipc_echo_remote -> TIMEOUT");
    for (const t of ["request_response", "busy", "restart_generation", "remote_panic"]) expect(r.outcomes.get(t)?.status, t).toBe("fail");
  });
});

describe("firmware the manifest names", () => {
  it("is built by default by build-firmware, for the role's board type", async () => {
    const { DEFAULT_FIRMWARE, buildFirmware, parseKernelImage } = await import("@tock-hil/emulator");
    for (const role of suite.manifest.roles) {
      for (const name of [...role.firmware, ...(role.extraFirmware ?? [])]) {
        expect(DEFAULT_FIRMWARE as readonly string[], name).toContain(name);
        const fw = buildFirmware(name);
        expect(fw.boardType, name).toBe(role.boardType);
        if (fw.kind === "kernel") expect(parseKernelImage(fw.bytes).board).toBe(role.boardType);
      }
    }
  });
});
