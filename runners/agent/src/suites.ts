/** Suites this runner can execute, by name. */
import type { Suite } from "@tock-hil/board";
import { suite as ieee802154 } from "@tock-hil/suite-ieee802154";

export const suites: ReadonlyMap<string, Suite> = new Map([ieee802154].map((s) => [s.manifest.name, s]));
