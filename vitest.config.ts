import { defineConfig } from "vitest/config";

// One `vitest run` covers every workspace. Unit tests are colocated `*.test.ts`; tests that need Postgres/Redis
// or spawn processes are `*.int.test.ts` / `*.e2e.test.ts` and run file by file (they share the local services).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["{apps,runners,test-suites}/*/{src,test}/**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "**/*.e2e.test.ts", "**/node_modules/**"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["{apps,runners,test-suites}/*/{src,test}/**/*.int.test.ts", "{apps,runners,test-suites}/*/{src,test}/**/*.e2e.test.ts"],
          globalSetup: ["apps/api/test/helpers/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
