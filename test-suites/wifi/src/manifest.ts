/**
 * Static description of the WiFi suite (no code). One Raspberry Pi Pico W running the CYW43439 capsule and the
 * wifi_http example against the lab's access point "TockHIL" (WPA2-PSK), whose LAN is the lab segment with the
 * runner host as gateway and DHCP server. Two negative tests flash deliberately broken builds they fetch as extra
 * firmware: the example built with a wrong passphrase, and a kernel linked without the CYW43439 firmware.
 */
import type { SuiteManifest } from "@tock-hil/board";

export const manifest: SuiteManifest = {
  name: "wifi",
  description:
    "WiFi on a Raspberry Pi Pico W (CYW43439): chip bring-up and MAC, scan, WPA2 join, DHCP lease and an HTTP GET of the " +
    "board's page; a wrong passphrase and a kernel without chip firmware must report failure.",
  roles: [
    {
      name: "dut",
      boardType: "raspberry_pi_pico_w",
      firmware: ["raspberry_pi_pico_w", "wifi_http"],
      extraFirmware: ["raspberry_pi_pico_w-no-wifi-fw", "wifi_http_wrong_psk"],
    },
  ],
  tests: [
    { name: "init_mac", description: 'WiFi init succeeds and the board prints its 6-byte MAC ("wifi: MAC xx:..").', roles: ["dut"] },
    { name: "scan", description: 'The scan reports the lab SSID "TockHIL" and completes.', roles: ["dut"] },
    { name: "join_wpa2", description: 'Joining "TockHIL" with WPA2-PSK succeeds (4-way handshake completed).', roles: ["dut"] },
    {
      name: "dhcp_lease",
      description: "DHCP yields a lease in 192.168.1.0/24 with router 192.168.1.1 within 10 s of joining.",
      roles: ["dut"],
    },
    {
      name: "http_get",
      description: "The lab host's GET / of the board's httpd over WiFi gets a 200 response, acknowledged in full.",
      roles: ["dut"],
    },
    {
      name: "wrong_passphrase",
      description: "wifi_http built with a wrong passphrase reports the join as failed within its 10 s timeout and never gets a lease.",
      roles: ["dut"],
    },
    {
      name: "missing_firmware",
      description: "A kernel without the CYW43439 firmware reports a WiFi init error and prints no MAC address.",
      roles: ["dut"],
    },
  ],
  timeoutMs: 5 * 60_000,
};
