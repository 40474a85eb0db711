import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadLabConfig } from "../src/lab-config.ts";

async function load(yaml: string) {
  const dir = await mkdtemp(join(tmpdir(), "lab-"));
  await writeFile(join(dir, "lab.yaml"), yaml);
  return loadLabConfig(join(dir, "lab.yaml"));
}

describe("lab config", () => {
  it("loads boards and resolves paths next to the file", async () => {
    const cfg = await load("name: rack-1\nboards:\n  - { name: nrf-1, type: nrf52840dk, adapter: emulated, tags: [a] }\n");
    expect(cfg.boards).toEqual([{ name: "nrf-1", type: "nrf52840dk", adapter: "emulated", tags: ["a"] }]);
    expect(cfg.credentialsPath).toBe(join(cfg.path, "..", "runner-credentials.json"));
  });

  it("names the entry that is wrong and how to fix it", async () => {
    await expect(load("name: rack-1\nboards:\n  - { name: nrf-1, type: nrf52840dk, adapter: jlink }\n")).rejects.toThrow(
      /boards\.0\.adapter: adapter must be 'emulated'/,
    );
    await expect(
      load("name: rack-1\nboards:\n  - { name: a, type: t, adapter: emulated }\n  - { name: a, type: t, adapter: emulated }\n"),
    ).rejects.toThrow(/boards\.1\.name: board name a is used twice/);
    await expect(load("name: rack-1\nboards: []\n")).rejects.toThrow(/list at least one board/);
    await expect(load("name: [unclosed\n")).rejects.toThrow(/not valid YAML/);
    await expect(load("name: rack-1\nboard: []\n")).rejects.toThrow(/board/);
  });
});
