/**
 * Spawns the real API server and runner processes for end-to-end tests, with output captured for diagnosis.
 * Every process is bounded: killed on test teardown, with a forced kill if it ignores SIGTERM.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import type { ResultPromise } from "execa";
import { createPrisma } from "../../src/db.ts";
import type { PrismaClient } from "../../src/db.ts";
import { freePort } from "../../src/launcher/services.ts";
import { createTestDatabase, dropRedisPrefix, TEST_REDIS_URL, uniquePrefix } from "./services.ts";

export const repoRoot = resolve(import.meta.dirname, "../../../..");

export type ManagedProcess = { child: ResultPromise; output: () => string; stop: () => Promise<void> };

function spawnTs(file: string, args: string[], env: Record<string, string>): ManagedProcess {
  let output = "";
  // HIL_CHILD_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the spawned processes (see bench/README.md).
  const flags = process.env.HIL_CHILD_NODE_FLAGS?.split(" ").filter(Boolean) ?? [];
  const child = execa(process.execPath, [...flags, "--import", "tsx", file, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    reject: false,
    forceKillAfterDelay: 10_000,
    all: true,
    buffer: false,
  });
  child.all?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await child;
    },
  };
}

export type ApiServer = ManagedProcess & { url: string; env: Record<string, string> };

export async function startApi(env: Record<string, string>): Promise<ApiServer> {
  const proc = spawnTs("apps/api/src/server.ts", [], env);
  const url = `http://127.0.0.1:${env.PORT}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (
      await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (proc.child.exitCode !== null || Date.now() > deadline) throw new Error(`API did not start:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...proc, url, env };
}

export const ADMIN = "hil_admin_e2e-token-0123456789abcdef";

export type Stack = {
  api: ApiServer;
  runner: ManagedProcess;
  workDir: string;
  /** The stack's database, for assertions on what is stored (never for driving the system). */
  prisma: PrismaClient;
  firmware: Record<string, { sha256: string; file: string; kind: string; boardType: string }>;
  restartApi: () => Promise<void>;
  /** Registers and starts another emulated-lab runner (boards in their own RF group unless `group` is given). */
  addRunner: (name: string, options?: { boards?: number; group?: string; emulationSpeed?: number }) => Promise<ManagedProcess>;
  close: () => Promise<void>;
};

export async function call<T = unknown>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token = ADMIN,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Builds firmware with the emulator's CLI (as CI would) and uploads it. */
export async function buildAndUpload(base: string, outDir: string, extraArgs: string[] = []) {
  await execa(process.execPath, ["--import", "tsx", "runners/emulator/src/cli.ts", "build-firmware", "--out", outDir, ...extraArgs], {
    cwd: repoRoot,
    timeout: 60_000,
  });
  const manifest = JSON.parse(await readFile(join(outDir, "manifest.json"), "utf8")) as {
    name: string;
    kind: string;
    file: string;
    sha256: string;
    boardType: string;
  }[];
  for (const fw of manifest) {
    const res = await fetch(`${base}/api/v1/artifacts?name=${fw.name}&kind=${fw.kind}&boardType=${fw.boardType}&sha256=${fw.sha256}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/octet-stream" },
      body: await readFile(join(outDir, fw.file)),
    });
    if (res.status >= 300) throw new Error(`upload of ${fw.name} failed: ${res.status} ${await res.text()}`);
  }
  return Object.fromEntries(manifest.map((m) => [m.name, m]));
}

/** A fresh database, work directory, port and queue prefix, and the API environment that uses them. */
async function freshApiEnvironment(prefix: string, overrides: Record<string, string>) {
  const db = await createTestDatabase();
  const workDir = await mkdtemp(join(tmpdir(), prefix));
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    HOST: "127.0.0.1",
    PORT: String(await freePort()),
    HIL_DATA_DIR: join(workDir, "data"),
    HIL_ADMIN_TOKEN: ADMIN,
    HIL_QUEUE_PREFIX: uniquePrefix(),
    HIL_HEARTBEAT_INTERVAL_MS: "500",
    HIL_RUNNER_TIMEOUT_MS: "5000",
    HIL_MAX_ATTEMPTS: "1",
    ...overrides,
  };
  return { db, workDir, env };
}

/** The API process alone on a fresh database and queue prefix, with a Prisma client on the same database. */
export async function startApiOnly(apiEnv: Record<string, string> = {}) {
  const { db, workDir, env } = await freshApiEnvironment("hil-api-", { LOG_LEVEL: "warn", ...apiEnv });
  const api = await startApi(env);
  const prisma = createPrisma(db.url, 4);
  const others: ApiServer[] = [];
  return {
    api,
    prisma,
    workDir,
    /** Another API process on the same database and queue (its own port), as in a deployment behind a balancer. */
    startAnother: async () => {
      const other = await startApi({ ...env, PORT: String(await freePort()) });
      others.push(other);
      return other;
    },
    close: async () => {
      await Promise.all(others.map((o) => o.stop()));
      await api.stop();
      await prisma.$disconnect();
      await db.drop();
      await dropRedisPrefix(env.HIL_QUEUE_PREFIX!);
    },
  };
}

/** API + one emulated runner with `boards` nRF52840DKs, on a fresh database and queue prefix. */
export async function startStack(
  options: { boards?: number; apiEnv?: Record<string, string>; emulationSpeed?: number } = {},
): Promise<Stack> {
  const { db, workDir, env } = await freshApiEnvironment("hil-e2e-", { LOG_LEVEL: "info", ...options.apiEnv });
  const api = await startApi(env);
  const firmware = await buildAndUpload(api.url, join(workDir, "firmware"));

  const runners: ManagedProcess[] = [];
  const addRunner = async (name: string, runnerOptions: { boards?: number; group?: string; emulationSpeed?: number } = {}) => {
    const labDir = join(workDir, `lab-${name}`);
    await mkdir(labDir, { recursive: true });
    const group = runnerOptions.group ?? `rf-${name}`;
    const boards = Array.from(
      { length: runnerOptions.boards ?? options.boards ?? 4 },
      (_, i) => `  - { name: nrf-${i + 1}, type: nrf52840dk, adapter: emulated, group: ${group} }`,
    );
    const speed =
      (runnerOptions.emulationSpeed ?? options.emulationSpeed)
        ? `emulation: { speed: ${runnerOptions.emulationSpeed ?? options.emulationSpeed} }\n`
        : "";
    await writeFile(join(labDir, "lab.yaml"), `name: ${name}\n${speed}boards:\n${boards.join("\n")}\n`);
    const reg = await call<{ token: string }>(stack.api.url, "POST", "/api/v1/registration-tokens", {});
    const registered = await execa(
      process.execPath,
      [
        "runners/agent/bin/hil-runner.js",
        "register",
        "--url",
        stack.api.url,
        "--token",
        reg.body.token,
        "--config",
        join(labDir, "lab.yaml"),
      ],
      { cwd: repoRoot, reject: false, timeout: 60_000 },
    );
    if (registered.exitCode !== 0) throw new Error(`register failed: ${registered.stderr}`);
    const runner = spawnTs("runners/agent/src/cli.ts", ["start", "--config", join(labDir, "lab.yaml")], {
      LOG_LEVEL: "info",
      HIL_RUNNER_LEASE_WAIT_MS: "2000",
    });
    runners.push(runner);
    return runner;
  };

  const prisma = createPrisma(db.url, 2);
  const stack: Stack = {
    api,
    runner: undefined as unknown as ManagedProcess,
    workDir,
    prisma,
    firmware,
    addRunner,
    restartApi: async () => {
      await stack.api.stop();
      stack.api = await startApi(env);
    },
    close: async () => {
      for (const r of runners) await r.stop();
      await stack.api.stop();
      await prisma.$disconnect();
      await db.drop();
      await dropRedisPrefix(env.HIL_QUEUE_PREFIX!);
    },
  };
  stack.runner = await addRunner("e2e-lab");
  return stack;
}

export async function waitForRun<T extends { status: string }>(base: string, runId: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call<T>(base, "GET", `/api/v1/runs/${runId}`);
    if (["passed", "failed", "error", "cancelled"].includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
