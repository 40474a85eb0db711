/** The Ethernet board on the lab segment: pcap, tap limits, FCS drops, the QEMU VirtIO board, flashing rules. */
import { describe, expect, it } from "vitest";
import { FlashError } from "@tock-hil/board";
import type { EthernetBoard } from "../src/boards/ethernet-board.ts";
import { buildFirmware } from "../src/firmware.ts";
import { createEmulatedLab } from "../src/lab.ts";
import { decodePcap } from "../src/pcap.ts";
import { decodeEthernet } from "../src/net/ethernet.ts";
import { decodeEthernetFrame } from "../src/net/validate.ts";
import { TAP_RX_SLOTS } from "../src/net/tap.ts";

const img = (n: string) => {
  const f = buildFirmware(n);
  return { name: f.name, kind: f.kind, sha256: f.sha256, bytes: f.bytes };
};

async function boot(type: "nucleo_f429zi" | "qemu_rv32_virt", faults = {}, ms = 5000) {
  const lab = createEmulatedLab({ boards: [{ name: "eth-1", type }] });
  await lab.beginSession({ seed: 11, faults });
  const board = lab.boards[0] as EthernetBoard;
  let text = "";
  board.serial.onData((c) => (text += new TextDecoder().decode(c)));
  await board.flash([img(type === "nucleo_f429zi" ? "nucleo_f429zi" : "qemu_rv32_virt"), img("lwip_net_test")]);
  await board.reset();
  await lab.clock.sleep(ms);
  return { lab, board, text };
}

describe("Ethernet board on the L2 segment", () => {
  it("prints only what came back over the wire: reply count equals ICMP replies the host sent", async () => {
    const { lab, board, text } = await boot("nucleo_f429zi");
    const replies = text.split("\n").filter((l) => l.startsWith("ping: 64 bytes from")).length;
    expect(replies).toBe(20);
    expect(lab.network.host.stack.stats.echoRepliesSent).toBe(20);
    expect(board.tap).toBeDefined();
    expect(lab.network.host.probes).toEqual([{ ip: "192.168.1.50", atMs: expect.any(Number) as number, status: 200 }]);
    // The capture holds real frames: ARP, ICMP, UDP, TCP, all valid, timestamps in order, no FCS.
    const [cap] = lab.takeCaptures?.() ?? [];
    const pcap = decodePcap(cap?.bytes ?? new Uint8Array());
    expect(pcap.linkType).toBe(1);
    expect(pcap.records.every((r) => decodeEthernetFrame(r.data) !== undefined)).toBe(true);
    const types = new Set(pcap.records.map((r) => decodeEthernet(r.data).etherType));
    expect(types).toEqual(new Set([0x0806, 0x0800, 0x88b5]));
    // A second take returns only what was recorded since.
    expect(lab.takeCaptures?.() ?? []).toEqual([]);
  });

  it("counts RX drops in the tap: a 16-frame burst into 8 slots drops 8", async () => {
    const { text } = await boot("nucleo_f429zi");
    expect(text).toContain(
      `tap: rx burst of 16 while not reading: ${TAP_RX_SLOTS} queued, 8 dropped (queue ${TAP_RX_SLOTS}), 8 delivered to udp`,
    );
    expect(text).toContain("tap: transmit of 1519-byte frame -> SIZE");
    expect(text).toContain("tap: back-to-back transmits -> SUCCESS, BUSY");
  });

  it("drops corrupted frames at the receiving MAC and counts them as CRC errors", async () => {
    const { lab, board, text } = await boot("nucleo_f429zi", { ethernetCorruption: 1 });
    // Every frame the board sent reached the host with a bad FCS; none got into the host's stack, so no replies.
    expect(lab.network.host.frameErrors).toBe(lab.network.segment.stats.framesOnWire);
    expect(lab.network.host.frameErrors).toBeGreaterThan(0);
    expect(lab.network.host.stack.stats.framesIn).toBe(0);
    expect(board.mac.stats.rxFrames).toBe(0);
    expect(text).toContain("arp: 192.168.1.1 unresolved after 3 requests");
  });

  it("boots the QEMU rv32 virt board with VirtIO-net and runs the same app", async () => {
    const { text } = await boot("qemu_rv32_virt");
    expect(
      text.startsWith(
        'QEMU RISC-V 32-bit "virt" machine, initialization complete.\r\n- Found VirtIO NetworkCard device, enabling EthernetTapDriver\r\n',
      ),
    ).toBe(true);
    expect(text).toContain("ping: 20 packets transmitted, 20 received, 0% packet loss");
  });

  it("is silent when halted and refuses a kernel for another board", async () => {
    const lab = createEmulatedLab({ boards: [{ name: "eth-1", type: "nucleo_f429zi" }] });
    const board = lab.boards[0] as EthernetBoard;
    await expect(board.flash([img("raspberry_pi_pico_w"), img("lwip_net_test")])).rejects.toThrow(FlashError);
    await expect(board.flash([img("nrf52840dk")])).rejects.toThrow(/built for board "nrf52840dk"/);
    await board.flash([img("nucleo_f429zi"), img("lwip_net_test")]);
    let bytes = 0;
    board.serial.onData((c) => (bytes += c.length));
    await board.reset();
    await lab.clock.sleep(50);
    await board.halt();
    const after = bytes;
    const attempts = (): number => board.mac.stats.txFrames + board.mac.stats.txNoCarrier;
    const sent = attempts();
    await lab.clock.sleep(3000);
    expect(after).toBeGreaterThan(0);
    expect(sent).toBeGreaterThan(0);
    expect(bytes).toBe(after);
    // The board transmits nothing more either: the app's ARP/ping timers died with the kernel.
    expect(attempts()).toBe(sent);
  });
});
