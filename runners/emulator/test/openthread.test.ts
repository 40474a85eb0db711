import { describe, expect, it } from "vitest";
import type { Faults } from "@tock-hil/board";
import type { EmulatedLab } from "../src/lab.ts";
import { createEmulatedLab } from "../src/lab.ts";
import { decodePcap } from "../src/pcap.ts";
import { image, record } from "./helpers.ts";

const ATTACHED = "Successfully attached to Thread network as a child.";

async function otLab(seed: number, faults?: Faults, app = "openthread_hello") {
  const lab: EmulatedLab = createEmulatedLab({
    boards: [
      { name: "nrf-1", type: "nrf52840dk" },
      { name: "nrf-2", type: "nrf52840dk" },
    ],
  });
  await lab.beginSession({ seed, faults });
  const router = lab.board("nrf-1");
  const node = lab.board("nrf-2");
  const routerLog = record(router);
  const nodeLog = record(node);
  await router.flash([image("ot-central-controller")]);
  await node.flash([image("nrf52840dk-thread-tutorial"), image(app)]);
  await router.reset();
  await lab.clock.sleep(3000);
  await node.reset();
  return { lab, router, node, routerLog, nodeLog };
}

async function command(lab: EmulatedLab, board: ReturnType<EmulatedLab["board"]>, log: { text(): string }, cmd: string, ms = 200) {
  const from = log.text().length;
  await board.serial.write(`${cmd}\r\n`);
  await lab.clock.sleep(ms);
  return log.text().slice(from);
}

describe("OpenThread on the emulated medium", () => {
  it("forms a leader and attaches openthread_hello as a child through MLE frames", async () => {
    const { lab, router, routerLog, nodeLog } = await otLab(1);
    await lab.clock.sleep(10_000);
    const text = nodeLog.text();
    expect(text).toContain("[State Change] - Detached.\n[State Change] - Child.\n" + ATTACHED + "\n");
    expect(await command(lab, router, routerLog, "state")).toBe("state\r\nleader\r\nDone\r\n");
    const table = await command(lab, router, routerLog, "child table");
    expect(table).toMatch(/\| +1 \| 0x[0-9a-f]{4} \| +60 \|/);
    const captures = lab.takeCaptures?.() ?? [];
    expect(captures.map((c) => c.name)).toEqual(["ieee802154-ch26.pcap"]);
    const pcap = decodePcap(captures[0]?.bytes ?? new Uint8Array());
    expect(pcap.linkType).toBe(195);
    expect(pcap.records.length).toBeGreaterThan(4);
    expect(pcap.records.every((r) => r.fcsOk)).toBe(true);
  });

  it("never attaches with the wrong network key, and MIC failures are what stops it", async () => {
    const { lab, router, nodeLog } = await otLab(1, { wrongNetworkKey: true });
    await lab.clock.sleep(15_000);
    expect(nodeLog.text()).not.toContain("Child");
    expect(router.otFirmware?.node.stats.micFailures).toBeGreaterThan(0);
    expect(router.otFirmware?.node.children.length).toBe(0);
  });

  it("exchanges UDP both ways and answers ping", async () => {
    const { lab, router, routerLog, nodeLog } = await otLab(2, undefined, "openthread_udp_rx");
    await lab.clock.sleep(6000);
    expect(nodeLog.text()).toContain(ATTACHED);
    const mleid =
      nodeLog
        .text()
        .split("\n")
        .find((l) => l.startsWith("fd")) ?? "";
    expect(mleid).toMatch(/^fdde:ad00:beef:0:/);
    expect(await command(lab, router, routerLog, "udp open")).toBe("udp open\r\nDone\r\n");
    expect(await command(lab, router, routerLog, `udp send ${mleid} 1212 hellothere`, 500)).toBe(
      `udp send ${mleid} 1212 hellothere\r\nDone\r\n`,
    );
    expect(nodeLog.text()).toMatch(/Received UDP packet \[10 bytes\] from fdde:ad00:beef:0:[0-9a-f:]+ hellothere\n/);
    const ping = await command(lab, router, routerLog, `ping ${mleid}`, 4000);
    expect(ping).toMatch(
      new RegExp(
        `^ping ${mleid}\\r\\n16 bytes from ${mleid}: icmp_seq=1 hlim=64 time=\\d+ms\\r\\n1 packets transmitted, 1 packets received`,
      ),
    );
  });

  it("re-attaches after the router reboots", async () => {
    const { lab, router, nodeLog } = await otLab(3);
    await lab.clock.sleep(6000);
    expect(nodeLog.text().split(ATTACHED).length - 1).toBe(1);
    await router.reset();
    await lab.clock.sleep(30_000);
    const after = nodeLog.text();
    expect(after.split(ATTACHED).length - 1).toBe(2);
  });
});
