/**
 * Static description of the flashing / image-integrity suite (no code): the API imports this to plan runs.
 * Each broken image must be refused with the precise failure class, and an app that did not load must never let
 * a test pass.
 */
import type { SuiteManifest } from "@tock-hil/board";

/** The app every test expects to be running when flashing went right. */
export const EXPECTED_APP = "c_hello";

export const manifest: SuiteManifest = {
  name: "flashing",
  description:
    "Image integrity on nRF52840DK: a good kernel + c_hello must load and run (checked with the process console's " +
    "`list`), and a corrupted TBF header, a truncated TBF, a kernel for another board and a disabled app must each be " +
    "reported precisely.",
  roles: [
    {
      name: "dut",
      boardType: "nrf52840dk",
      firmware: ["nrf52840dk", EXPECTED_APP],
      extraFirmware: ["flash_bad_header", "flash_truncated", "flash_other_board", "flash_disabled"],
    },
  ],
  tests: [
    {
      name: "app_loaded",
      description: 'After reset, `list` shows c_hello and it prints "Hello World!"; an app missing from `list` is an error, never a pass.',
      roles: ["dut"],
    },
    {
      name: "corrupted_header",
      description: "Flashing c_hello with one TBF header byte flipped fails as invalid_image, naming the checksum mismatch.",
      roles: ["dut"],
    },
    { name: "truncated_image", description: "Flashing a TBF cut short fails as invalid_image, naming the truncation.", roles: ["dut"] },
    { name: "other_board_image", description: "Flashing a kernel built for raspberry_pi_pico_w fails as wrong_board.", roles: ["dut"] },
    {
      name: "disabled_app",
      description: "A c_hello TBF with the enable flag clear flashes, but the app is absent from `list` and never prints.",
      roles: ["dut"],
    },
  ],
  timeoutMs: 5 * 60_000,
};
