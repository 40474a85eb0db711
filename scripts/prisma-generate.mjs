// Generates the Prisma client offline. The Prisma CLI insists on downloading its native schema engine before
// `generate`, which cannot work on machines without internet access; generation itself only needs the bundled
// wasm, so we point the engine override at any existing file (see docs/architecture.md, "Prisma offline").
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? "/bin/true" };
if (!existsSync("prisma/schema.prisma")) process.exit(0);
const result = spawnSync("npx", ["--no-install", "prisma", "generate"], { stdio: "inherit", env });
process.exit(result.status ?? 1);
