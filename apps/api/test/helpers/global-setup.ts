/** Builds the migrated template database once per test session; every test file clones it. */
import { applyMigrations } from "../../src/db/migrate.ts";
import { adminQuery, databaseUrl, TEMPLATE_DB } from "./services.ts";

export default async function setup() {
  await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  await adminQuery(`CREATE DATABASE ${TEMPLATE_DB}`);
  await applyMigrations(databaseUrl(TEMPLATE_DB));
  // A template must have no connections when cloned; the migration pool is closed by now.
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  };
}
