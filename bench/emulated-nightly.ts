/**
 * Benchmark: the nightly's radio suites (ieee802154 + openthread) on the default 4-board emulated lab, reporting
 * how much virtual time they cover against the wall time they take. `npm run bench` wires this in.
 */
import { performance } from "node:perf_hooks";
import type { Suite } from "@tock-hil/board";
import { suite as ieee802154 } from "@tock-hil/suite-ieee802154";
import { suite as openthread } from "@tock-hil/suite-openthread";
import { createDefaultLab, runSuiteOnEmulatedLab } from "@tock-hil/emulator";

export type BenchResult = { virtualMs: number; wallMs: number; speedup: number; failed: string[] };

export async function benchEmulatedNightly(options: { seed?: number; suites?: Suite[] } = {}): Promise<BenchResult> {
  const lab = createDefaultLab(4);
  const wallStart = performance.now();
  let virtualMs = 0;
  const failed: string[] = [];
  for (const s of options.suites ?? [ieee802154, openthread]) {
    const run = await runSuiteOnEmulatedLab(s, { seed: options.seed ?? 1, lab });
    virtualMs += run.virtualMs;
    for (const [name, o] of run.outcomes) if (o.status !== "pass") failed.push(`${s.manifest.name}/${name}: ${o.status}`);
  }
  await lab.close();
  const wallMs = performance.now() - wallStart;
  return { virtualMs, wallMs, speedup: wallMs > 0 ? virtualMs / wallMs : Number.POSITIVE_INFINITY, failed };
}
