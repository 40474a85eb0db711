/** Pure verdicts over wifi_http's serial output; failure messages say what was observed. */

export type Verdict = { pass: boolean; message: string | undefined; measurements: Record<string, number | string | boolean> };

export const LAB_SSID = "TockHIL";
export const JOIN_TIMEOUT_MS = 10_000;

export function completeLines(text: string): string[] {
  const parts = text.split("\n");
  parts.pop();
  return parts.map((l) => l.replace(/\r+$/, ""));
}

const verdict = (pass: boolean, message: string, measurements: Verdict["measurements"]): Verdict => ({
  pass,
  message: pass ? undefined : message,
  measurements,
});
const wifiLines = (lines: string[]): string => lines.filter((l) => /^(wifi|dhcp|httpd):/.test(l)).join(" | ") || "no wifi output";

export function judgeInitMac(text: string): Verdict {
  const lines = completeLines(text);
  const init = lines.includes("wifi: init ok");
  const mac = lines.map((l) => /^wifi: MAC ((?:[0-9a-f]{2}:){5}[0-9a-f]{2})$/.exec(l)?.[1]).find((m) => m);
  const pass = init && mac !== undefined && mac !== "00:00:00:00:00:00" && mac !== "ff:ff:ff:ff:ff:ff";
  return verdict(pass, `init_mac: expected "wifi: init ok" and a MAC; saw: ${wifiLines(lines)}`, { initOk: init, mac: mac ?? "" });
}

export function judgeScan(text: string): Verdict {
  const lines = completeLines(text);
  const ssids = lines.map((l) => /^wifi: scan result "(.*)"$/.exec(l)?.[1]).filter((s): s is string => s !== undefined);
  const done = lines.some((l) => /^wifi: scan done \(SUCCESS\)/.test(l));
  const pass = ssids.includes(LAB_SSID) && done;
  return verdict(pass, `scan: expected "${LAB_SSID}" and a successful scan done; found [${ssids.join(", ")}], done ${done}`, {
    networks: ssids.length,
    found: ssids.includes(LAB_SSID),
    done,
  });
}

export function judgeJoin(text: string): Verdict {
  const lines = completeLines(text);
  const ok = lines.find((l) => l.startsWith(`wifi: joined "${LAB_SSID}" (WPA2)`));
  const bad = lines.find((l) => l.startsWith(`wifi: join "${LAB_SSID}"`));
  return verdict(Boolean(ok), `join_wpa2: not joined; ${bad ? `board printed "${bad}"` : `saw: ${wifiLines(lines)}`}`, {
    joined: Boolean(ok),
  });
}

export function judgeDhcp(text: string): Verdict {
  const lines = completeLines(text);
  const m = lines.map((l) => /^dhcp: lease (192\.168\.1\.\d+)\/24 router 192\.168\.1\.1 in (\d+) ms$/.exec(l)).find((x) => x);
  const none = lines.find((l) => l.startsWith("dhcp: no lease"));
  const ms = Number(m?.[2] ?? -1);
  return verdict(
    m !== undefined && ms <= 10_000,
    `dhcp_lease: no lease in 192.168.1.0/24; ${none ? `board printed "${none}"` : `saw: ${wifiLines(lines)}`}`,
    { lease: m?.[1] ?? "", ms },
  );
}

export function judgeHttp(text: string): Verdict {
  const lines = completeLines(text);
  const ok = lines.find((l) => /^httpd: GET \/ from 192\.168\.1\.1 -> 200, \d+ bytes acknowledged$/.test(l));
  return verdict(Boolean(ok), `http_get: no acknowledged 200 response; saw: ${wifiLines(lines)}`, { served: Boolean(ok) });
}

/** Negative: the join must be reported as failed (not succeed, not stay silent) within the app's timeout. */
export function judgeWrongPassphrase(text: string): Verdict {
  const lines = completeLines(text);
  const joined = lines.find((l) => l.startsWith(`wifi: joined "${LAB_SSID}"`));
  const failed = lines.map((l) => new RegExp(`^wifi: join "${LAB_SSID}" failed: \\w+ after (\\d+) ms$`).exec(l)).find((m) => m);
  const ms = Number(failed?.[1] ?? -1);
  const lease = lines.some((l) => l.startsWith("dhcp: lease"));
  const pass = !joined && failed !== undefined && ms <= JOIN_TIMEOUT_MS && !lease;
  const observed = joined
    ? `the board joined ("${joined}")`
    : failed
      ? `failure reported after ${ms} ms`
      : `no join failure reported; saw: ${wifiLines(lines)}`;
  return verdict(pass, `wrong_passphrase: expected a reported join failure within ${JOIN_TIMEOUT_MS} ms; ${observed}`, {
    joined: Boolean(joined),
    failureReported: failed !== undefined,
    ms,
    lease,
  });
}

/** Negative: init must report an error, and no MAC may be printed. */
export function judgeMissingFirmware(text: string): Verdict {
  const lines = completeLines(text);
  const err = lines.find((l) => l.startsWith("wifi: init failed"));
  const mac = lines.find((l) => l.startsWith("wifi: MAC"));
  const booted = lines.some((l) => l.startsWith("Initialization complete"));
  const pass = Boolean(err) && !mac && booted;
  return verdict(
    pass,
    `missing_firmware: expected "wifi: init failed" and no MAC; ${!booted ? "the kernel never booted" : err ? `saw "${err}"` : "no init error"}${mac ? ` and "${mac}"` : ""}`,
    { initError: Boolean(err), macPrinted: Boolean(mac) },
  );
}
