// `npm run db:migrate` (apply pending migrations to DATABASE_URL) and `npm run db:diff -- <name>` (write a new
// migration from schema changes). Exits explicitly: the engine's pool otherwise keeps the process alive.
import { applyMigrations, createMigration } from "./migrate.ts";

const [command, name] = process.argv.slice(2);
try {
  if (command === "deploy") {
    const url = process.env.DATABASE_URL;
    if (!url) {
      console.error("DATABASE_URL is not set. Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tock_hil npm run db:migrate");
      process.exit(2);
    }
    const applied = await applyMigrations(url);
    console.log(applied.length ? `applied ${applied.length} migration(s): ${applied.join(", ")}` : "database is up to date");
  } else if (command === "diff") {
    if (!name || !/^[a-z0-9_]+$/.test(name)) {
      console.error("usage: npm run db:diff -- <snake_case_name>");
      process.exit(2);
    }
    const folder = await createMigration(name);
    console.log(folder ? `wrote ${folder}/migration.sql` : "no schema changes");
  } else {
    console.error("usage: migrate-cli.ts deploy | diff <name>");
    process.exit(2);
  }
  process.exit(0);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
