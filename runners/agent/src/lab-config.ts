/**
 * The lab configuration file (YAML): which boards this runner drives and how. Validated with messages that say
 * which entry is wrong and how to fix it.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { z } from "zod";

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "use 1-100 letters, digits, '.', '_' or '-'");

export const BoardConfig = z
  .object({
    name: Name.describe("Stable board name, unique on this runner"),
    type: Name.describe("Board type, e.g. nrf52840dk"),
    adapter: z.literal("emulated", { message: "adapter must be 'emulated' (real-hardware adapters are not available yet)" }),
    tags: z.array(z.string().min(1)).default([]),
    group: Name.optional().describe("Shared physical environment, e.g. the RF enclosure; jobs may require one group"),
  })
  .strict();
export type BoardConfig = z.infer<typeof BoardConfig>;

export const LabConfig = z
  .object({
    name: Name.describe("Runner name, used when registering"),
    /** Where `hil-runner register` stored the runner token; relative to the config file. */
    credentials: z.string().default("runner-credentials.json"),
    /** Firmware cache directory, relative to the config file. */
    cacheDir: z.string().default("firmware-cache"),
    boards: z.array(BoardConfig).min(1, "list at least one board under boards:"),
    /** Emulated boards only: at most this many times faster than wall time (1 = real time); unlimited when unset. */
    emulation: z
      .object({ speed: z.number().positive().max(1_000_000) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    for (const [i, b] of cfg.boards.entries()) {
      if (seen.has(b.name)) ctx.addIssue({ code: "custom", path: ["boards", i, "name"], message: `board name ${b.name} is used twice` });
      seen.add(b.name);
    }
  });
export type LabConfig = z.infer<typeof LabConfig>;

export type LoadedLabConfig = LabConfig & { credentialsPath: string; cachePath: string; path: string };

export async function loadLabConfig(path: string): Promise<LoadedLabConfig> {
  const full = resolve(path);
  let text: string;
  try {
    text = await readFile(full, "utf8");
  } catch (err) {
    throw new Error(`cannot read lab config ${full}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new Error(`lab config ${full} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = LabConfig.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(top level)"}: ${i.message}`);
    throw new Error(`lab config ${full} is invalid:\n${lines.join("\n")}`);
  }
  const base = dirname(full);
  return {
    ...result.data,
    path: full,
    credentialsPath: resolve(base, result.data.credentials),
    cachePath: resolve(base, result.data.cacheDir),
  };
}
