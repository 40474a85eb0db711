/**
 * Static description of the Ethernet suite (no code): the API imports this to plan runs. One Nucleo-F429ZI with
 * the `tock-ethernet` kernel (EthernetTapDriver over the STM32 MAC) running the lwIP test app, cabled to the lab
 * segment where the runner host (192.168.1.1) answers ARP, ping and UDP echo and fetches the board's web page.
 */
import type { SuiteManifest } from "@tock-hil/board";

export const manifest: SuiteManifest = {
  name: "ethernet",
  description:
    "Ethernet on a Nucleo-F429ZI through Tock's tap driver and lwIP: ARP for the gateway, ping, UDP echo, an HTTP GET " +
    "of the board's page by the lab host, and the tap driver's limits (oversize frame, one frame in flight, RX drops).",
  roles: [{ name: "dut", boardType: "nucleo_f429zi", firmware: ["nucleo_f429zi", "lwip_net_test"] }],
  tests: [
    { name: "arp", description: 'The board resolves the gateway 192.168.1.1: "arp: 192.168.1.1 is at <mac>".', roles: ["dut"] },
    {
      name: "icmp_echo",
      description: "At least 95% of 20 pings to the gateway get a checksum-valid reply with the same data.",
      roles: ["dut"],
    },
    { name: "udp_echo", description: "UDP echo (port 7) of 1, 64, 512 and 1472 bytes comes back byte-exact.", roles: ["dut"] },
    {
      name: "http_get",
      description: "The lab host's GET / of the board's lwIP httpd gets a 200 response, acknowledged in full.",
      roles: ["dut"],
    },
    {
      name: "tap_limits",
      description:
        "A 1519-byte frame is rejected with SIZE, a second transmit while one is in flight gets BUSY, and a 16-frame burst " +
        "into the 8-frame receive queue drops frames and counts them.",
      roles: ["dut"],
    },
  ],
  timeoutMs: 3 * 60_000,
};
