import { describe, expect, it } from "vitest";
import { parseEnv } from "./env.ts";

const base = { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/x", REDIS_URL: "redis://127.0.0.1:6379" };

describe("API configuration", () => {
  it("refuses a duration a timer cannot wait for (it would fire at once), naming the variable and the limit", () => {
    expect(() => parseEnv({ ...base, HIL_STEP_TEST_MS: "3000000000" })).toThrow(
      /HIL_STEP_TEST_MS: must be at most 2147483647 ms \(about 24\.8 days\)/,
    );
    expect(() => parseEnv({ ...base, HIL_QUEUE_TIMEOUT_MS: "9999999999" })).toThrow(/HIL_QUEUE_TIMEOUT_MS: must be at most/);
    expect(parseEnv({ ...base, HIL_STEP_TEST_MS: "2147483647" }).HIL_STEP_TEST_MS).toBe(2_147_483_647);
  });

  it("has priority classes of 50 points by default and refuses a step of 0", () => {
    expect(parseEnv(base).HIL_PRIORITY_STEP).toBe(50);
    expect(() => parseEnv({ ...base, HIL_PRIORITY_STEP: "0" })).toThrow(/HIL_PRIORITY_STEP/);
  });
});
