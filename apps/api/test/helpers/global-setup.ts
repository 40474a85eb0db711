/**
 * Builds the migrated template database once per test session; every test file clones it. Each session gets its
 * own template name (passed to the test workers through the environment), so two test runs on one machine never
 * drop each other's template.
 */
import { randomBytes } from "node:crypto";
import { applyMigrations } from "../../src/db/migrate.ts";
import { adminQuery, databaseUrl } from "./services.ts";

export default async function setup() {
  const template = `tock_hil_tpl_${randomBytes(4).toString("hex")}`;
  process.env.TEST_TEMPLATE_DB = template;
  await adminQuery(`CREATE DATABASE ${template}`);
  await applyMigrations(databaseUrl(template));
  // A template must have no connections when cloned; the migration pool is closed by now.
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  };
}
