/** Builds the lab (boards + clock) a runner drives from its configuration. */
import type { Lab } from "@tock-hil/board";
import { createEmulatedLab } from "@tock-hil/emulator";
import type { LabConfig } from "./lab-config.ts";

export function createLab(config: LabConfig): Lab {
  // Only emulated boards exist so far; they share one virtual clock and one radio medium.
  return createEmulatedLab({ boards: config.boards.map((b) => ({ name: b.name, type: b.type })) });
}
