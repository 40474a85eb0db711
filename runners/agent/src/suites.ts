/** Suites this runner can execute, by name. */
import type { Suite } from "@tock-hil/board";
import { suite as ethernet } from "@tock-hil/suite-ethernet";
import { suite as flashing } from "@tock-hil/suite-flashing";
import { suite as ieee802154 } from "@tock-hil/suite-ieee802154";
import { suite as ipc } from "@tock-hil/suite-ipc";
import { suite as openthread } from "@tock-hil/suite-openthread";
import { suite as wifi } from "@tock-hil/suite-wifi";

export const suites: ReadonlyMap<string, Suite> = new Map(
  [ieee802154, openthread, flashing, ethernet, wifi, ipc].map((s) => [s.manifest.name, s]),
);
