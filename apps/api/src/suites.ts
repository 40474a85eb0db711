/**
 * The suite catalog the API plans runs from. Only manifests (static data: roles, firmware names, tests) are
 * imported here, never suite code: the code runs on the runners, against boards.
 */
import { manifest as ethernet } from "@tock-hil/suite-ethernet/manifest";
import { manifest as flashing } from "@tock-hil/suite-flashing/manifest";
import { manifest as ieee802154 } from "@tock-hil/suite-ieee802154/manifest";
import { manifest as ipc } from "@tock-hil/suite-ipc/manifest";
import { manifest as openthread } from "@tock-hil/suite-openthread/manifest";
import { manifest as wifi } from "@tock-hil/suite-wifi/manifest";

export type SuiteRole = {
  name: string;
  boardType: string;
  firmware: string[];
  extraFirmware?: string[];
  tags?: string[];
  silentBoot?: boolean;
};
export type SuiteCatalogEntry = {
  name: string;
  description: string;
  roles: SuiteRole[];
  tests: { name: string; description: string; roles: string[] }[];
  timeoutMs: number;
  sameGroup?: boolean;
  reruns?: number;
};

export type SuiteCatalog = ReadonlyMap<string, SuiteCatalogEntry>;

export const suiteCatalog: SuiteCatalog = new Map(
  [ieee802154, openthread, flashing, ethernet, wifi, ipc].map((m): [string, SuiteCatalogEntry] => [m.name, m]),
);
