import { describe, expect, it } from "vitest";
import { judgeDhcp, judgeInitMac, judgeJoin, judgeMissingFirmware, judgeScan, judgeWrongPassphrase } from "./judge.ts";

const GOOD =
  "Initialization complete. Enter main loop\r\nwifi_http: starting\nwifi: init ok\nwifi: MAC d8:3a:dd:5c:b2:b9\n" +
  'wifi: scan result "TockHIL"\nwifi: scan result "TockHIL-Guest"\nwifi: scan done (SUCCESS), 2 networks\n' +
  'wifi: joined "TockHIL" (WPA2) in 124 ms\ndhcp: lease 192.168.1.100/24 router 192.168.1.1 in 2 ms\n';

describe("wifi judges", () => {
  it("accept a good transcript", () => {
    for (const j of [judgeInitMac, judgeScan, judgeJoin, judgeDhcp]) expect(j(GOOD).pass, j.name).toBe(true);
  });

  it("scan fails when the SSID is missing or the scan did not complete", () => {
    expect(judgeScan(GOOD.replace('"TockHIL"\n', '"Other"\n')).message).toBe(
      'scan: expected "TockHIL" and a successful scan done; found [Other, TockHIL-Guest], done true',
    );
    expect(judgeScan(GOOD.replace("scan done (SUCCESS)", "scan done (FAIL)")).pass).toBe(false);
  });

  it("wrong passphrase passes only for a reported failure within 10 s and no lease", () => {
    expect(judgeWrongPassphrase('wifi: join "TockHIL" failed: FAIL after 3011 ms\n').pass).toBe(true);
    expect(judgeWrongPassphrase('wifi: join "TockHIL" failed: FAIL after 12000 ms\n').pass).toBe(false);
    expect(judgeWrongPassphrase(GOOD).message).toContain('the board joined ("wifi: joined "TockHIL" (WPA2) in 124 ms")');
    expect(judgeWrongPassphrase('wifi: join "TockHIL" timed out after 10000 ms\n').message).toContain("no join failure reported");
  });

  it("missing firmware passes only for an init error with no MAC after a boot", () => {
    expect(judgeMissingFirmware("Initialization complete. Enter main loop\r\nwifi: init failed: FAIL\n").pass).toBe(true);
    expect(judgeMissingFirmware(GOOD).pass).toBe(false);
    expect(judgeMissingFirmware("").message).toContain("the kernel never booted");
  });
});
