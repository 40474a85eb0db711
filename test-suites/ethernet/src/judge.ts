/**
 * Pure verdicts over the board's serial text (what lwip_net_test printed), so they can be tested with synthetic
 * transcripts and re-run on stored logs. Failure messages say what was observed.
 */

export type Verdict = { pass: boolean; message: string | undefined; measurements: Record<string, number | string | boolean> };

export const GATEWAY = "192.168.1.1";
export const PING_COUNT = 20;
export const ICMP_THRESHOLD = 0.95;
export const UDP_SIZES = [1, 64, 512, 1472] as const;
export const OVERSIZE = 1519;
export const TAP_RX_SLOTS = 8;

/** Complete lines ("\r" stripped); a trailing fragment without newline is not a line yet. */
export function completeLines(text: string): string[] {
  const parts = text.split("\n");
  parts.pop();
  return parts.map((l) => l.replace(/\r+$/, ""));
}

const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;
const verdict = (pass: boolean, message: string, measurements: Verdict["measurements"]): Verdict => ({
  pass,
  message: pass ? undefined : message,
  measurements,
});

export function judgeArp(text: string): Verdict {
  const lines = completeLines(text);
  const re = new RegExp(`^arp: ${GATEWAY.replaceAll(".", "\\.")} is at ((?:[0-9a-f]{2}:){5}[0-9a-f]{2})$`);
  const hit = lines.map((l) => re.exec(l)).find((m) => m);
  const mac = hit?.[1];
  const other = lines.find((l) => l.startsWith("arp: "));
  if (mac && mac !== "00:00:00:00:00:00") return verdict(true, "", { resolved: true, mac });
  return verdict(false, `arp: ${GATEWAY} was not resolved; ${other ? `board printed "${other}"` : "no arp line was printed"}`, {
    resolved: false,
  });
}

export function judgeIcmp(text: string): Verdict {
  const lines = completeLines(text);
  const seqs = new Set<number>();
  const re = new RegExp(`^ping: \\d+ bytes from ${GATEWAY.replaceAll(".", "\\.")}: icmp_seq=(\\d+) time=[\\d.]+ ms$`);
  for (const l of lines) {
    const m = re.exec(l);
    if (m) seqs.add(Number(m[1]));
  }
  const replies = [...seqs].filter((s) => s >= 1 && s <= PING_COUNT).length;
  const corrupt = lines.filter((l) => l.includes("with different data")).length;
  const summary = lines.find((l) => /^ping: \d+ packets transmitted/.test(l));
  const ratio = replies / PING_COUNT;
  const pass = ratio >= ICMP_THRESHOLD && corrupt === 0;
  return verdict(
    pass,
    `icmp_echo: ${replies} of ${PING_COUNT} echo replies (${pct(ratio)}), needs 95%` +
      (corrupt ? `; ${corrupt} replies with different data` : "") +
      (summary ? `; board summary "${summary}"` : "; no ping summary line"),
    { replies, expected: PING_COUNT, ratio, threshold: ICMP_THRESHOLD, corrupt },
  );
}

export function judgeUdp(text: string): Verdict {
  const lines = completeLines(text);
  const exact = UDP_SIZES.filter((n) => lines.includes(`udp: echo ${n} bytes from ${GATEWAY}:7 byte-exact`));
  const missing = UDP_SIZES.filter((n) => !exact.includes(n));
  const problems = lines.filter((l) => /^udp: echo \d+ bytes .*(differs|timed out)/.test(l));
  return verdict(
    missing.length === 0,
    `udp_echo: ${exact.length} of ${UDP_SIZES.length} echoes byte-exact; not exact: ${missing.join(", ")} bytes` +
      (problems.length ? ` (${problems.join("; ")})` : ""),
    { exact: exact.length, expected: UDP_SIZES.length },
  );
}

export function judgeHttp(text: string): Verdict {
  const lines = completeLines(text);
  const ok = lines.find((l) => new RegExp(`^httpd: GET / from ${GATEWAY.replaceAll(".", "\\.")} -> 200, \\d+ bytes acknowledged$`).test(l));
  const failed = lines.find((l) => l.startsWith("httpd: response to"));
  return verdict(
    Boolean(ok),
    `http_get: no acknowledged 200 response to ${GATEWAY}` +
      (failed ? `; board printed "${failed}"` : "; the board's httpd served nothing"),
    { served: Boolean(ok) },
  );
}

export function judgeTapLimits(text: string): Verdict {
  const lines = completeLines(text);
  const size = lines.includes(`tap: transmit of ${OVERSIZE}-byte frame -> SIZE`);
  const busy = lines.includes("tap: back-to-back transmits -> SUCCESS, BUSY");
  const burst = lines
    .map((l) => /^tap: rx burst of (\d+) while not reading: (\d+) queued, (\d+) dropped \(queue (\d+)\)/.exec(l))
    .find((m): m is RegExpExecArray => m !== null);
  const queued = Number(burst?.[2] ?? -1);
  const dropped = Number(burst?.[3] ?? -1);
  const burstOk = burst !== undefined && queued === TAP_RX_SLOTS && dropped > 0 && queued + dropped <= Number(burst[1]);
  const problems: string[] = [];
  if (!size)
    problems.push(`no "${OVERSIZE}-byte frame -> SIZE" line (${lines.find((l) => l.startsWith("tap: transmit of")) ?? "nothing printed"})`);
  if (!busy) problems.push(`no "SUCCESS, BUSY" line (${lines.find((l) => l.startsWith("tap: back-to-back")) ?? "nothing printed"})`);
  if (!burstOk)
    problems.push(
      burst ? `burst: ${queued} queued, ${dropped} dropped (expected ${TAP_RX_SLOTS} queued and some dropped)` : "no rx burst line",
    );
  return verdict(problems.length === 0, `tap_limits: ${problems.join("; ")}`, {
    oversizeRejected: size,
    busyRefused: busy,
    queued,
    dropped,
  });
}
