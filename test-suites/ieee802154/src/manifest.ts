/**
 * Static description of the IEEE 802.15.4 suite (no code): the API imports this to plan runs.
 * Mirrors Tensile's nightly radio tests (tock-hardware-ci `tensile/ieee802154_tests.py`) and their thresholds.
 */
import type { SuiteManifest } from "@tock-hil/board";

export const manifest: SuiteManifest = {
  name: "ieee802154",
  description:
    "IEEE 802.15.4 radio on nRF52840DK with the MAC kernel: libtock-c radio_tx sends 60-byte frames every 250 ms, " +
    "radio_rx prints each frame it receives; judged on serial output like the Tensile nightly.",
  roles: [
    { name: "tx", boardType: "nrf52840dk", firmware: ["nrf52840dk", "radio_tx"] },
    { name: "rx", boardType: "nrf52840dk", firmware: ["nrf52840dk", "radio_rx"] },
  ],
  tests: [
    {
      name: "radio_tx",
      description: 'For 10 s after reset, at least 95% of the expected 40 "Transmitted successfully." lines appear.',
      roles: ["tx"],
    },
    {
      name: "radio_rx",
      description:
        "With radio_tx sending for 60 s, the receiver prints at least 50% of the expected 240 packets as the exact " +
        "9-line block (payload 00..3b, PAN 0xabcd, 0x1540 -> 0x0802).",
      roles: ["tx", "rx"],
    },
  ],
  // 71 s of radio time plus flashing and resets on real boards; emulated runs finish far sooner.
  timeoutMs: 5 * 60_000,
};
