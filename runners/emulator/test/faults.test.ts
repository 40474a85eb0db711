import { describe, expect, it } from "vitest";
import { FlashError } from "@tock-hil/board";
import { createEmulatedLab } from "../src/lab.ts";
import { Radio } from "../src/radio.ts";
import { countLines, image, record } from "./helpers.ts";

function lab2() {
  return createEmulatedLab({
    boards: [
      { name: "nrf-1", type: "nrf52840dk" },
      { name: "nrf-2", type: "nrf52840dk" },
    ],
  });
}

/** Sends `n` broadcast frames from a bare radio to a listening one; returns the delivery pattern. */
async function pattern(
  seed: number,
  faults: Parameters<ReturnType<typeof lab2>["beginSession"]>[0]["faults"],
  n = 400,
): Promise<boolean[]> {
  const lab = lab2();
  await lab.beginSession({ seed, faults });
  const a = lab.board("nrf-1").radio;
  const b = lab.board("nrf-2").radio;
  b.powerOn();
  a.powerOn();
  const got: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const before = b.stats.framesReceived;
    // Virtual time only moves inside sleep: start the frame, then let it finish on the air.
    a.transmit(Uint8Array.of(0x41, 0xc8, i & 0xff, 0xcd, 0xab, 0xff, 0xff), () => undefined);
    await lab.clock.sleep(5);
    got.push(b.stats.framesReceived > before);
  }
  return got;
}

const runs = (p: boolean[]): number => p.filter((x, i) => !x && p[i - 1] !== false).length;

describe("medium faults", () => {
  it("burstLoss loses frames in bursts: same loss rate as independent loss, far fewer loss runs", async () => {
    const burst = await pattern(1, { burstLoss: { enterBad: 0.05, exitBad: 0.2 } });
    const lostBurst = burst.filter((x) => !x).length;
    expect(lostBurst).toBeGreaterThan(20);
    const indep = await pattern(1, { loss: lostBurst / burst.length });
    const lostIndep = indep.filter((x) => !x).length;
    expect(Math.abs(lostIndep - lostBurst)).toBeLessThan(lostBurst * 0.6);
    expect(runs(burst)).toBeLessThan(runs(indep) / 2);
  });

  it("linkLoss applies only to the named direction", async () => {
    expect((await pattern(1, { linkLoss: [{ from: "nrf-1", to: "nrf-2", loss: 1 }] }, 20)).some((x) => x)).toBe(false);
    expect((await pattern(1, { linkLoss: [{ from: "nrf-2", to: "nrf-1", loss: 1 }] }, 20)).every((x) => x)).toBe(true);
  });

  it("jamming makes CCA busy only inside its window", async () => {
    const lab = lab2();
    await lab.beginSession({ seed: 1, faults: { jamming: [{ channel: 26, fromMs: 1000, untilMs: 2000 }] } });
    const r = new Radio("probe", lab.scheduler, lab.medium);
    expect(lab.medium.energy(26)).toBe(false);
    await lab.clock.sleep(1500);
    expect(lab.medium.energy(26)).toBe(true);
    expect(lab.medium.energy(25)).toBe(false);
    await lab.clock.sleep(1000);
    expect(lab.medium.energy(26)).toBe(false);
    expect(r.isOn).toBe(false);
  });
});

describe("board faults and process console", () => {
  it("flashHang stalls the flash of the targeted image until the caller gives up, on nRF and on network boards", async () => {
    const lab = createEmulatedLab({
      boards: [
        { name: "nrf-1", type: "nrf52840dk" },
        { name: "nrf-2", type: "nrf52840dk" },
        { name: "eth-1", type: "nucleo_f429zi" },
      ],
    });
    await lab.beginSession({ seed: 1, faults: { flashHang: ["radio_rx", "eth-1"] } });
    const stalled = lab.board("nrf-1");
    const log = record(stalled);
    // The probe answers for other images and other boards.
    await expect(lab.board("nrf-2").flash([image("nrf52840dk"), image("radio_tx")])).resolves.toMatchObject({ written: [{}, {}] });
    const started = Date.now();
    const timedOut = await stalled.flash([image("nrf52840dk"), image("radio_rx")], AbortSignal.timeout(150)).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(timedOut).toBeInstanceOf(FlashError);
    expect(timedOut).toMatchObject({ code: "timeout", message: expect.stringMatching(/nrf-1: the debug probe stopped answering/) });
    // Left erased, as a write cut short leaves a real board: nothing boots.
    await stalled.reset();
    await lab.clock.sleep(1000);
    expect(log.text()).toBe("");
    const cancel = new AbortController();
    const eth = lab.boards.find((b) => b.name === "eth-1")!;
    const pending = eth.flash([image("nucleo_f429zi"), image("lwip_net_test")], cancel.signal).catch((e: unknown) => e);
    cancel.abort();
    expect(await pending).toMatchObject({ code: "cancelled" });
    // A session without the fault flashes normally again.
    await lab.beginSession({ seed: 2 });
    await expect(stalled.flash([image("nrf52840dk"), image("radio_rx")], AbortSignal.timeout(1000))).resolves.toBeDefined();
  });

  it("boardHang by app name silences exactly the board running that app", async () => {
    const lab = lab2();
    await lab.beginSession({ seed: 1, faults: { boardHang: [{ target: "radio_tx", afterMs: 1000 }] } });
    const tx = lab.board("nrf-1");
    const other = lab.board("nrf-2");
    const txLog = record(tx);
    const otherLog = record(other);
    await tx.flash([image("nrf52840dk"), image("radio_tx")]);
    await other.flash([image("nrf52840dk"), image("c_hello")]);
    await tx.reset();
    await other.reset();
    await lab.clock.sleep(5000);
    const n = countLines(txLog.text(), "Transmitted successfully.");
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(5);
    expect(tx.running).toBe(false);
    expect(other.running).toBe(true);
    expect(otherLog.text()).toContain("Hello World!");
  });

  it("stop/start/terminate/boot act on the named process as `list` shows", async () => {
    const lab = lab2();
    await lab.beginSession({ seed: 1 });
    const b = lab.board("nrf-1");
    const log = record(b);
    await b.flash([image("nrf52840dk"), image("radio_tx")]);
    await b.reset();
    await lab.clock.sleep(1000);
    const cmd = async (c: string) => {
      const from = log.text().length;
      await b.serial.write(`${c}\r\n`);
      await lab.clock.sleep(50);
      return log.text().slice(from);
    };
    expect(await cmd("stop radio_tx")).toContain("Process radio_tx stopped\r\n");
    const sent = b.stats().radio.framesSent;
    await lab.clock.sleep(2000);
    expect(b.stats().radio.framesSent).toBe(sent);
    expect(await cmd("list")).toMatch(/ 0 .*radio_tx .*Stopped\((Running|Yielded)\)\r\n/);
    expect(await cmd("start radio_tx")).toContain("Process radio_tx resumed\r\n");
    await lab.clock.sleep(1000);
    expect(b.stats().radio.framesSent).toBeGreaterThan(sent);
    expect(await cmd("terminate radio_tx")).toContain("Process radio_tx terminated\r\n");
    expect(await cmd("list")).toMatch(/ 0 .*radio_tx .*Terminated\r\n/);
    expect(await cmd("boot radio_tx")).toContain("Process radio_tx booted\r\n");
    expect(await cmd("list")).toMatch(/ 1 .*radio_tx .* 1 +1\/16 {2}(Running|Yielded)\r\n/);
    expect(await cmd("stop nosuch")).toContain("Process not found: nosuch\r\n");
  });

  it("reset from the process console reboots the board", async () => {
    const lab = lab2();
    await lab.beginSession({ seed: 1 });
    const b = lab.board("nrf-1");
    const log = record(b);
    await b.flash([image("nrf52840dk"), image("c_hello")]);
    await b.reset();
    await lab.clock.sleep(500);
    await b.serial.write("reset\r\n");
    await lab.clock.sleep(500);
    expect(countLines(log.text(), "Hello World!")).toBe(2);
  });
});
