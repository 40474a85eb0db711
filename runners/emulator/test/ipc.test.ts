/** The inter-kernel channel, multi-kernel IPC semantics and legacy IPC on the two-kernel board. */
import { describe, expect, it } from "vitest";
import type { MultiKernelBoard } from "../src/boards/multikernel-board.ts";
import { buildFirmware } from "../src/firmware.ts";
import { InterKernelChannel, CHANNEL_SLOTS } from "../src/ipc/channel.ts";
import { createEmulatedLab } from "../src/lab.ts";
import { Scheduler } from "../src/scheduler.ts";

const img = (n: string) => {
  const f = buildFirmware(n);
  return { name: f.name, kind: f.kind, sha256: f.sha256, bytes: f.bytes };
};

describe("inter-kernel channel", () => {
  it("is bounded, delivers in order, and drops a damaged slot instead of delivering it", () => {
    const ch = new InterKernelChannel(new Scheduler());
    for (let i = 0; i < CHANNEL_SLOTS; i++) expect(ch.post(0, Uint8Array.of(i), Uint8Array.of(0xa0 + i))).toBe(true);
    expect(ch.post(0, Uint8Array.of(9))).toBe(false);
    expect(ch.stats.full).toBe(1);
    expect([...(ch.take(1) ?? [])]).toEqual([0, 0xa0]);
    // Damage slot 1 (a stray write into the shared region): it is detected, not handed over.
    ch.memory[195] = (ch.memory[195] ?? 0) ^ 0xff;
    expect([...(ch.take(1) ?? [])]).toEqual([2, 0xa2]);
    expect(ch.stats.crcErrors).toBe(1);
    expect(ch.take(0)).toBeUndefined();
  });
});

async function runBoard(apps: string[], faults = {}, ms = 5000) {
  const lab = createEmulatedLab({ boards: [{ name: "mk", type: "qemu_rv32_virt_multikernel" }] });
  await lab.beginSession({ seed: 1, faults });
  const board = lab.boards[0] as MultiKernelBoard;
  let text = "";
  board.serial.onData((c) => (text += new TextDecoder().decode(c)));
  await board.flash([img("qemu_rv32_virt_multikernel"), ...apps.map(img)]);
  await board.reset();
  await lab.clock.sleep(ms);
  return { board, text };
}

const ALL = ["ipc_mk_client", "ipc_echo_local", "ipc_echo_remote", "ipc_silent_service", "ipc_crash_service"];

describe("two-kernel board", () => {
  it("places apps by their FixedAddresses TLV: kernel 1 gets only its services", async () => {
    const { board } = await runBoard([...ALL, "rot13_client", "org.tockos.examples.rot13"], {}, 50);
    expect(board.processes(0).map((p) => p.name)).toEqual(["ipc_mk_client", "ipc_echo_local", "rot13_client", "org.tockos.examples.rot13"]);
    expect(board.processes(1).map((p) => p.name)).toEqual(["ipc_echo_remote", "ipc_silent_service", "ipc_crash_service"]);
  });

  it("counts one copy per message within a kernel and two across, matching what the apps print", async () => {
    const { board, text } = await runBoard(ALL);
    expect(text).toContain("[k0] ipc_echo_local: request from k0:p0:g1 len 11 copies 1");
    expect(text).toContain("[k1] ipc_echo_remote: request from k0:p0:g1 len 12 copies 2");
    // Every copy count the apps print matches the rule: 1 within kernel 0, 2 whenever kernel 1 is involved.
    const counts = [...text.matchAll(/\[k(\d)\] (?:ipc_echo_\w+: request from k(\d)|request k(\d)):\S+.* copies (\d)/g)];
    expect(counts.length).toBeGreaterThan(8);
    for (const m of counts) expect(Number(m[4]), m[0]).toBe(m[1] === "0" && (m[2] ?? m[3]) === "0" ? 1 : 2);
    expect(board.ipcNg[0].stats.busyRefused).toBe(1);
    expect(board.ipcNg[1].stats.staleRefused).toBe(1);
  });

  it("keeps kernel 0 running when kernel 1 panics, and the panic does not hang the sender", async () => {
    const { board, text } = await runBoard(ALL);
    expect(board.kernelAlive(1)).toBe(false);
    expect(board.kernelAlive(0)).toBe(true);
    expect(text).toMatch(/\[k0\] send to k1:p0:g2 after remote panic -> TIMEOUT in 300 ms \(timeout 300 ms\)/);
    expect(text.indexOf("[k0] ipc_mk_client: done")).toBeGreaterThan(text.indexOf("[k1] panicked at"));
  });

  it("reports the remote as unreachable when kernel 1 panics at boot (fault ipcRemotePanic)", async () => {
    const { board, text } = await runBoard(ALL, { ipcRemotePanic: true });
    expect(text).toContain("[k1] Kernel instance 1: injected panic (fault ipcRemotePanic)");
    expect(text).toContain("[k0] discover ipc_echo_remote -> TIMEOUT");
    expect(board.kernelAlive(0)).toBe(true);
  });

  it("runs rot13 over legacy IPC: shared buffer rotated in place, exact lines", async () => {
    const { text } = await runBoard(["rot13_client", "org.tockos.examples.rot13"], {}, 2200);
    const lines = text.split("\n").filter((l) => l.startsWith("[k0] 12: "));
    expect(lines.slice(0, 5)).toEqual([
      "[k0] 12: Hello World!",
      "[k0] 12: Uryyb Jbeyq!",
      "[k0] 12: Hello World!",
      "[k0] 12: Uryyb Jbeyq!",
      "[k0] 12: Hello World!",
    ]);
  });

  it("prints 'No rot13 service' when the service is not installed", async () => {
    const { text } = await runBoard(["rot13_client"], {}, 500);
    expect(text).toContain("[k0] No rot13 service\n");
    expect(text).not.toContain("12: ");
  });
});
