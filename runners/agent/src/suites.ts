/** Suites this runner can execute, by name. */
import type { Suite } from "@tock-hil/board";
import { suite as flashing } from "@tock-hil/suite-flashing";
import { suite as ieee802154 } from "@tock-hil/suite-ieee802154";
import { suite as openthread } from "@tock-hil/suite-openthread";

export const suites: ReadonlyMap<string, Suite> = new Map([ieee802154, openthread, flashing].map((s) => [s.manifest.name, s]));
