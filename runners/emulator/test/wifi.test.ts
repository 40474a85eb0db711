/** WPA2 key derivation vectors, the CYW43439 bring-up rules and the 4-way handshake MIC check. */
import { describe, expect, it } from "vitest";
import { Scheduler } from "../src/scheduler.ts";
import { L2Segment } from "../src/net/segment.ts";
import { cyw43Blob } from "../src/boards/firmware.ts";
import { WifiAir } from "../src/wifi/access-point.ts";
import { Cyw43Driver, WifiStatus } from "../src/wifi/cyw43-driver.ts";
import { BUS_TEST_PATTERN, CSR_ALP_REQ, Cyw43439, REG } from "../src/wifi/cyw43439.ts";
import { CYW43_NVRAM } from "../src/boards/firmware.ts";
import { KEY_INFO, derivePsk, derivePtk, encodeEapolKey, micValid, prf, withMic } from "../src/wifi/wpa2.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("WPA2-PSK derivation", () => {
  it('IEEE 802.11i vector: passphrase "password", SSID "IEEE"', () => {
    expect(hex(derivePsk("password", "IEEE"))).toBe("f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e");
  });

  it('IEEE 802.11 Annex J vector: "ThisIsAPassword" / "ThisIsASSID"', () => {
    expect(hex(derivePsk("ThisIsAPassword", "ThisIsASSID"))).toBe("0dc0d6eb90555ed6419756b9a15ec3e3209b63df707dd508d14581f8982721af");
  });

  it("rejects passphrases outside 8..63 characters", () => {
    expect(() => derivePsk("short", "IEEE")).toThrow(RangeError);
    expect(() => derivePsk("x".repeat(64), "IEEE")).toThrow(RangeError);
  });

  it('PRF-512 vector (key 0x0b x 20, "prefix", "Hi There")', () => {
    expect(hex(prf(new Uint8Array(20).fill(0x0b), "prefix", new TextEncoder().encode("Hi There"), 512))).toBe(
      "bcd4c650b30b9684951829e0d75f9d54b862175ed9f00606e17d8da35402ffee75df78c3d31e0f889f012120c0862beb67753e7439ae242edb8373698356cf5a",
    );
  });

  it("a message-2 MIC made with another passphrase's PTK fails the authenticator's check", () => {
    const aNonce = new Uint8Array(32).fill(1);
    const sNonce = new Uint8Array(32).fill(2);
    const ap = derivePtk(derivePsk("right-passphrase", "lab"), "02:00:00:00:10:01", "d8:3a:dd:00:00:01", aNonce, sNonce);
    const sta = derivePtk(derivePsk("wrong-passphrase", "lab"), "02:00:00:00:10:01", "d8:3a:dd:00:00:01", aNonce, sNonce);
    const m2 = encodeEapolKey({
      keyInfo: KEY_INFO.version2 | KEY_INFO.pairwise | KEY_INFO.mic,
      replayCounter: 2n,
      nonce: sNonce,
      data: new Uint8Array(0),
    });
    expect(micValid(ap.kck, withMic(ap.kck, m2))).toBe(true);
    expect(micValid(ap.kck, withMic(sta.kck, m2))).toBe(false);
    // The PTK is symmetric in the address and nonce order.
    expect(hex(derivePtk(derivePsk("right-passphrase", "lab"), "d8:3a:dd:00:00:01", "02:00:00:00:10:01", sNonce, aNonce).kck)).toBe(
      hex(ap.kck),
    );
  });
});

function chipRig(blobs: { firmware?: Uint8Array | undefined; clm?: Uint8Array | undefined }) {
  const sched = new Scheduler();
  const air = new WifiAir(sched, new L2Segment(sched));
  const chip = new Cyw43439(sched, air, "d8:3a:dd:12:34:56");
  const driver = new Cyw43Driver(sched, chip, { firmware: blobs.firmware, clm: blobs.clm, nvram: new TextEncoder().encode(CYW43_NVRAM) });
  return { sched, chip, driver };
}

async function init(rig: ReturnType<typeof chipRig>): Promise<number | undefined> {
  let status: number | undefined;
  rig.driver.init((s) => (status = s));
  await rig.sched.clock.sleep(5000);
  return status;
}

describe("CYW43439 bring-up", () => {
  it("reads the bus test pattern half-swapped until 32-bit mode is selected", () => {
    const { chip } = chipRig({});
    chip.powerCycle();
    expect(chip.read32(0, REG.BUS_TEST_RO)).toBe(0xbeadfeed);
    chip.write32(0, REG.BUS_CTRL, 0x000304b1);
    expect(chip.read32(0, REG.BUS_TEST_RO)).toBe(BUS_TEST_PATTERN);
  });

  it("refuses backplane writes before the ALP clock, over 64 bytes, or outside the window", () => {
    const { chip } = chipRig({});
    chip.powerCycle();
    expect(chip.bpWrite(0, new Uint8Array(64))).toBe(false);
    chip.write32(1, REG.CHIP_CLOCK_CSR, CSR_ALP_REQ);
    expect(chip.bpWrite(0, new Uint8Array(64))).toBe(true);
    expect(chip.bpWrite(0, new Uint8Array(65))).toBe(false);
    expect(chip.bpWrite(0x8000, new Uint8Array(4))).toBe(false);
    expect(chip.bpWrite(0x7ffc, new Uint8Array(8))).toBe(false);
  });

  it("comes up with the right firmware and CLM: init OK, MAC from the chip, ioctls in Tock's order", async () => {
    const rig = chipRig({ firmware: cyw43Blob("fw"), clm: cyw43Blob("clm") });
    expect(await init(rig)).toBe(WifiStatus.SUCCESS);
    expect(rig.driver.mac).toBe("d8:3a:dd:12:34:56");
    expect(rig.chip.booted).toBe(true);
    const trace = rig.chip.trace;
    expect(trace.slice(0, 5)).toEqual(["263 clmload", "263 clmload", "263 clmload", "263 clmload", "263 clmload"]);
    expect(trace.slice(5)).toEqual([
      "263 bus:txglom",
      "263 apsta",
      "262 cur_etheraddr",
      "263 country",
      "64",
      "263 ampdu_ba_wsize",
      "263 ampdu_mpdu",
      "263 bsscfg:event_msgs",
      "2",
      "110",
      "142",
    ]);
  });

  it("never boots with one firmware byte changed: init fails, no MAC", async () => {
    const fw = cyw43Blob("fw");
    fw[1000] = (fw[1000] ?? 0) ^ 0x01;
    const rig = chipRig({ firmware: fw, clm: cyw43Blob("clm") });
    expect(await init(rig)).toBe(WifiStatus.FAIL);
    expect(rig.driver.mac).toBeUndefined();
    expect(rig.chip.stats.bootFailures).toBe(1);
  });

  it("fails init when the firmware is missing or truncated", async () => {
    expect(await init(chipRig({ firmware: undefined, clm: cyw43Blob("clm") }))).toBe(WifiStatus.FAIL);
    expect(await init(chipRig({ firmware: cyw43Blob("fw").slice(0, 200_000), clm: cyw43Blob("clm") }))).toBe(WifiStatus.FAIL);
  });

  it("rejects a corrupt CLM at its END chunk, so UP is never reached", async () => {
    const clm = cyw43Blob("clm");
    clm[5] = (clm[5] ?? 0) ^ 0xff;
    const rig = chipRig({ firmware: cyw43Blob("fw"), clm });
    expect(await init(rig)).toBe(WifiStatus.FAIL);
    expect(rig.chip.stats.ioctlErrors).toBe(1);
    expect(rig.chip.trace).not.toContain("2");
  });

  it("joins the WPA2 AP only with the right passphrase, and refuses short passphrases", async () => {
    const rig = chipRig({ firmware: cyw43Blob("fw"), clm: cyw43Blob("clm") });
    expect(await init(rig)).toBe(WifiStatus.SUCCESS);
    expect(rig.driver.join("TockHIL", "wpa2", "short", () => undefined)).toBe(WifiStatus.INVAL);
    let status: number | undefined;
    expect(rig.driver.join("TockHIL", "wpa2", "not-the-lab-passphrase", (s) => (status = s))).toBe(WifiStatus.SUCCESS);
    await rig.sched.clock.sleep(5000);
    expect(status).toBe(WifiStatus.FAIL);
    status = undefined;
    rig.driver.join("TockHIL", "wpa2", "tock-hil-wpa2-passphrase", (s) => (status = s));
    await rig.sched.clock.sleep(1000);
    expect(status).toBe(WifiStatus.SUCCESS);
  });
});
