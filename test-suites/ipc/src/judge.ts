/** Pure verdicts over the multi-kernel board's tagged console ("[k0] ", "[k1] "); failure messages say what was seen. */

export type Verdict = { pass: boolean; message: string | undefined; measurements: Record<string, number | string | boolean> };

export const ROT13_LINES = ["12: Hello World!", "12: Uryyb Jbeyq!", "12: Hello World!", "12: Uryyb Jbeyq!", "12: Hello World!"] as const;
export const SEND_TIMEOUT_MS = 300;
export const REQUEST_TIMEOUT_MS = 500;

export type Gid = { kernel: number; pid: number; generation: number };

/** Complete lines printed by kernel `k`, prefix removed. */
export function kernelLines(text: string, k: number): string[] {
  const parts = text.split("\n");
  parts.pop();
  const tag = `[k${k}] `;
  return parts
    .map((l) => l.replace(/\r+$/, ""))
    .filter((l) => l.startsWith(tag))
    .map((l) => l.slice(tag.length));
}

export function parseGid(s: string | undefined): Gid | undefined {
  const m = /^k(\d+):p(\d+):g(\d+)$/.exec(s ?? "");
  return m ? { kernel: Number(m[1]), pid: Number(m[2]), generation: Number(m[3]) } : undefined;
}

const verdict = (pass: boolean, message: string, measurements: Verdict["measurements"]): Verdict => ({
  pass,
  message: pass ? undefined : message,
  measurements,
});
const find = (lines: string[], re: RegExp): RegExpExecArray | undefined =>
  lines.map((l) => re.exec(l)).find((m): m is RegExpExecArray => m !== null);
const shown = (lines: string[], prefix: string): string => lines.filter((l) => l.startsWith(prefix)).join(" | ") || "nothing";

export function judgeRot13(text: string): Verdict {
  const got = kernelLines(text, 0)
    .filter((l) => /^\d+: /.test(l) || l === "No rot13 service")
    .slice(0, ROT13_LINES.length);
  const pass = got.length === ROT13_LINES.length && got.every((l, i) => l === ROT13_LINES[i]);
  return verdict(pass, `rot13: expected ${JSON.stringify(ROT13_LINES)}, got ${JSON.stringify(got)}`, { lines: got.length });
}

export function judgeDiscovery(text: string): Verdict {
  const k0 = kernelLines(text, 0);
  const local = parseGid(find(k0, /^discover ipc_echo_local -> OK (\S+)$/)?.[1]);
  const remote = parseGid(find(k0, /^discover ipc_echo_remote -> OK (\S+)$/)?.[1]);
  const missing = k0.includes("discover no_such_service -> NODEVICE");
  const pass = local?.kernel === 0 && remote?.kernel === 1 && missing;
  return verdict(
    pass,
    `discovery: local ${local ? JSON.stringify(local) : "not found"}, remote ${remote ? JSON.stringify(remote) : "not found"}, missing name NODEVICE ${missing}; saw ${shown(k0, "discover")}`,
    {
      localKernel: local?.kernel ?? -1,
      remoteKernel: remote?.kernel ?? -1,
      missingIsNodevice: missing,
    },
  );
}

export function judgeRequestResponse(text: string): Verdict {
  const k0 = kernelLines(text, 0);
  const k1 = kernelLines(text, 1);
  const localResp = find(k0, /^request k0:\S+ "hello local" -> "HELLO LOCAL" response copies (\d+)$/);
  const remoteResp = find(k0, /^request k1:\S+ "hello remote" -> "HELLO REMOTE" response copies (\d+)$/);
  const localReq = find(k0, /^ipc_echo_local: request from k0:\S+ len 11 copies (\d+)$/);
  const remoteReq = find(k1, /^ipc_echo_remote: request from k0:\S+ len 12 copies (\d+)$/);
  const c = (m: RegExpExecArray | undefined): number => Number(m?.[1] ?? -1);
  const pass = c(localReq) === 1 && c(localResp) === 1 && c(remoteReq) === 2 && c(remoteResp) === 2;
  return verdict(
    pass,
    `request_response: copies local request ${c(localReq)}/response ${c(localResp)} (expected 1/1), remote request ${c(remoteReq)}/response ${c(remoteResp)} (expected 2/2); saw ${shown(k0, "request")}`,
    {
      localRequestCopies: c(localReq),
      localResponseCopies: c(localResp),
      remoteRequestCopies: c(remoteReq),
      remoteResponseCopies: c(remoteResp),
    },
  );
}

export function judgeBusy(text: string): Verdict {
  const k0 = kernelLines(text, 0);
  const m = find(k0, /^in flight: first send (\w+), second send (\w+)$/);
  const pass = m?.[1] === "OK" && m[2] === "BUSY";
  return verdict(pass, `busy: expected "first send OK, second send BUSY"; saw ${m ? `"${m[0]}"` : "no in-flight line"}`, {
    first: m?.[1] ?? "",
    second: m?.[2] ?? "",
  });
}

export function judgeTimeout(text: string): Verdict {
  const k0 = kernelLines(text, 0);
  const m = find(k0, /^request (k1:\S+) "are you there" -> (.*)$/);
  const pass = m?.[2] === `TIMEOUT after ${REQUEST_TIMEOUT_MS} ms (no response)`;
  return verdict(
    pass,
    `timeout: expected TIMEOUT after ${REQUEST_TIMEOUT_MS} ms from the silent service; saw ${m ? `"${m[0]}"` : shown(k0, "discover ipc_silent")}`,
    { timedOut: pass },
  );
}

export function judgeRestart(text: string): Verdict {
  const k0 = kernelLines(text, 0);
  const stale = find(k0, /^send to (\S+) after restart -> (\w+)$/);
  const olds = parseGid(stale?.[1]);
  const rediscovered = k0
    .map((l) => /^discover ipc_echo_remote -> OK (\S+)$/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(parseGid)
    .slice(1)[0];
  const after = k0.some((l) => /^request k1:\S+ "after restart" -> "AFTER RESTART" response copies 2$/.test(l));
  const pass =
    stale?.[2] === "STALE" &&
    olds !== undefined &&
    rediscovered?.pid === olds.pid &&
    rediscovered.generation === olds.generation + 1 &&
    after;
  return verdict(
    pass,
    `restart_generation: old handle ${stale?.[1] ?? "?"} -> ${stale?.[2] ?? "no send"} (expected STALE), rediscovered ${rediscovered ? JSON.stringify(rediscovered) : "nothing"}, request after restart ok ${after}`,
    { staleRefused: stale?.[2] === "STALE", oldGeneration: olds?.generation ?? -1, newGeneration: rediscovered?.generation ?? -1 },
  );
}

export function judgeRemotePanic(text: string): Verdict {
  const lines = text.split("\n").map((l) => l.replace(/\r+$/, ""));
  const panicAt = lines.findIndex((l) => l.startsWith("[k1] panicked at"));
  const m = find(kernelLines(text, 0), /^send to k1:\S+ after remote panic -> (\w+) in (\d+) ms \(timeout (\d+) ms\)$/);
  const afterPanic = panicAt >= 0 ? lines.slice(panicAt) : [];
  const stillHere = afterPanic.some((l) => /^\[k0\] request k0:\S+ "still here" -> "STILL HERE"/.test(l));
  const heartbeats = afterPanic.filter((l) => /^\[k0\] heartbeat \d+$/.test(l)).length;
  const ms = Number(m?.[2] ?? -1);
  const pass = panicAt >= 0 && m?.[1] === "TIMEOUT" && ms >= 0 && ms <= SEND_TIMEOUT_MS + 20 && stillHere && heartbeats >= 5;
  return verdict(
    pass,
    `remote_panic: kernel 1 panicked ${panicAt >= 0}; send after panic ${m ? `${m[1]} in ${ms} ms` : "not reported"} (expected TIMEOUT within ${SEND_TIMEOUT_MS} ms); kernel 0 after the panic: local IPC ${stillHere}, ${heartbeats} heartbeats (expected 5)`,
    { remotePanicked: panicAt >= 0, sendStatus: m?.[1] ?? "", sendMs: ms, localIpcAfterPanic: stillHere, heartbeats },
  );
}
