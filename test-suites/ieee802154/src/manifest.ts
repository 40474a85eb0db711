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
    {
      name: "tx",
      boardType: "nrf52840dk",
      firmware: ["nrf52840dk", "radio_tx"],
      extraFirmware: ["nrf52840dk-thread-tutorial", "radio_tx_raw"],
    },
    { name: "rx", boardType: "nrf52840dk", firmware: ["nrf52840dk", "radio_rx"], extraFirmware: ["nrf52840dk-ch11"] },
    // Nordic's 802.15.4 sniffer firmware: sees the ACKs no Tock app can report.
    { name: "sniffer", boardType: "nrf52840dk", firmware: ["nrf802154_sniffer"], silentBoot: true },
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
    {
      name: "radio_ack",
      description:
        "With radio_tx sending to radio_rx for 10 s, a sniffer on channel 26 sees at least 50% of the 40 data frames and " +
        "a software ACK with the same sequence number 192 us after at least 90% of them (the TX driver never reports ACKs).",
      roles: ["tx", "rx", "sniffer"],
    },
    {
      name: "radio_tx_raw",
      description:
        "radio_tx_raw on the nrf52840dk-thread-tutorial kernel for 60 s: radio_rx prints at least 50% of the 120 expected " +
        "frames as the exact block (offset 18, destination 0xffff, source 00 x8).",
      roles: ["tx", "rx"],
    },
    {
      name: "radio_channel_mismatch",
      description:
        "Negative test: radio_rx on a kernel built for channel 11 hears nothing from radio_tx on channel 26 for 10 s, " +
        "while the transmitter demonstrably sends.",
      roles: ["tx", "rx"],
    },
  ],
  // ~145 s of radio time plus flashing and resets on real boards; emulated runs finish far sooner.
  // Radio roles must share one RF environment (an enclosure, or one emulated medium).
  sameGroup: true,
  timeoutMs: 10 * 60_000,
};
