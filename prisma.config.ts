// Prisma 7 reads the database URL from here. `generate` must work without a database (CI installs before any
// database exists), so an unset DATABASE_URL is passed through as an empty string instead of failing.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
