/**
 * Offline Prisma migrations. The Prisma CLI cannot download its native schema engine on machines without internet
 * access, so we drive Prisma's wasm schema engine (@prisma/schema-engine-wasm) directly through a driver adapter.
 * It reads the same `prisma/migrations/<ts>_<name>/migration.sql` folders and writes the standard
 * `_prisma_migrations` table, so `prisma migrate deploy` stays valid wherever the native engine is available.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";

const require = createRequire(import.meta.url);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const SCHEMA_PATH = join(repoRoot, "prisma/schema.prisma");
export const MIGRATIONS_DIR = join(repoRoot, "prisma/migrations");
const filters = { externalTables: [], externalEnums: [] };

// The wasm engine's JS glue has no type declarations; this is the slice we call.
type SchemaEngine = {
  applyMigrations(input: unknown): Promise<{ appliedMigrationNames: string[] }>;
  diff(input: unknown): Promise<{ exitCode: number; stdout: string }>;
  free(): void;
};
type WasmExports = Record<string, unknown>;
// Node has WebAssembly globally; the project's lib settings do not declare it, so this is the part we use.
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: Record<string, unknown>) => { exports: WasmExports };
    };
  }
).WebAssembly;
type EngineRuntime = {
  __wbg_set_wasm(exports: WasmExports): void;
  SchemaEngine: { new: (params: unknown, log: (msg: string) => void, adapter: unknown) => Promise<SchemaEngine> };
};

let runtimePromise: Promise<EngineRuntime> | undefined;

/** Loads the wasm engine once per process. Its package entry imports .wasm as ESM, which Node 20 cannot do. */
function loadRuntime(): Promise<EngineRuntime> {
  runtimePromise ??= (async () => {
    const runtime = (await import("@prisma/schema-engine-wasm/schema_engine_bg")) as unknown as EngineRuntime;
    const wasmPath = join(dirname(require.resolve("@prisma/schema-engine-wasm/schema_engine_bg")), "schema_engine_bg.wasm");
    const module = new wasm.Module(await readFile(wasmPath));
    const instance = new wasm.Instance(module, { "./schema_engine_bg.js": runtime });
    runtime.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start: () => void }).__wbindgen_start();
    return runtime;
  })();
  return runtimePromise;
}

async function withEngine<T>(factory: SqlMigrationAwareDriverAdapterFactory, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const runtime = await loadRuntime();
  const engine = await runtime.SchemaEngine.new({ datamodels: undefined }, () => {}, bindMigrationAwareSqlAdapterFactory(factory));
  try {
    return await fn(engine);
  } finally {
    engine.free();
  }
}

async function migrationsList(dir: string) {
  const names = existsSync(dir)
    ? (await readdir(dir, { withFileTypes: true }))
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    : [];
  const lock = join(dir, "migration_lock.toml");
  return {
    baseDir: dir,
    lockfile: { path: "migration_lock.toml", content: existsSync(lock) ? await readFile(lock, "utf8") : null },
    shadowDbInitScript: "",
    migrationDirectories: await Promise.all(
      names.map(async (name) => ({
        path: name,
        migrationFile: {
          path: "migration.sql",
          content: { tag: "ok", value: await readFile(join(dir, name, "migration.sql"), "utf8") },
        },
      })),
    ),
  };
}

/** Applies every pending migration to the database at `databaseUrl`. Idempotent. Returns the names applied. */
export async function applyMigrations(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  // Our own pool, so it can be closed: a lingering connection would keep the process alive and block
  // `CREATE DATABASE ... TEMPLATE` of the migrated database.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    const out = await withEngine(new PrismaPg(pool), async (engine) =>
      engine.applyMigrations({ migrationsList: await migrationsList(dir), filters }),
    );
    return out.appliedMigrationNames;
  } finally {
    await pool.end();
  }
}

/**
 * Writes a new migration folder with the SQL that takes the committed migrations to the current schema, using an
 * in-memory PGlite as the shadow database. Returns the folder, or undefined when the schema has no changes.
 */
export async function createMigration(name: string): Promise<string | undefined> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { PrismaPGlite } = await import("pglite-prisma-adapter");
  const files = [{ path: SCHEMA_PATH, content: await readFile(SCHEMA_PATH, "utf8") }];
  const shadow = new PGlite();
  const list = await migrationsList(MIGRATIONS_DIR);
  try {
    const sql = await withEngine(new PrismaPGlite(shadow) as unknown as SqlMigrationAwareDriverAdapterFactory, async (engine) => {
      if (list.migrationDirectories.length > 0) await engine.applyMigrations({ migrationsList: list, filters });
      const result = await engine.diff({
        from: { tag: "schemaDatasource", files, configDir: dirname(SCHEMA_PATH) },
        to: { tag: "schemaDatamodel", files },
        script: true,
        exitCode: true,
        filters,
      });
      return result.exitCode === 0 ? "" : result.stdout;
    });
    if (!sql) return undefined;
    const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
    const folder = join(MIGRATIONS_DIR, `${stamp}_${name}`);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, "migration.sql"), sql);
    const lock = join(MIGRATIONS_DIR, "migration_lock.toml");
    if (!existsSync(lock)) {
      await writeFile(
        lock,
        '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
      );
    }
    return folder;
  } finally {
    await shadow.close();
  }
}
