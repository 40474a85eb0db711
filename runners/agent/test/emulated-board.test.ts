import { buildFirmware, createEmulatedLab } from "@tock-hil/emulator";
import { describeBoardConformance } from "./board-conformance.ts";

const image = (name: string, corruptHeader = false) => {
  const fw = buildFirmware(name, { corruptHeader });
  return { name: fw.name, kind: fw.kind, sha256: fw.sha256, bytes: fw.bytes };
};

describeBoardConformance("emulated nrf52840dk", {
  createLab: () => createEmulatedLab({ boards: [{ name: "nrf-1", type: "nrf52840dk" }] }),
  boardType: "nrf52840dk",
  images: () => [image("nrf52840dk"), image("radio_tx")],
  appName: "radio_tx",
  corruptImages: () => [image("nrf52840dk"), image("radio_tx", true)],
  bootLine: "Initialization complete. Entering main loop",
  bootMs: 1000,
});
