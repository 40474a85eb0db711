/**
 * Static description of the OpenThread suite (no code): the API imports this to plan runs.
 * Extends Tensile's `openthread_hello_test` (router = nRF52840DK with ot-central-controller, Tock node with the
 * thread-tutorial kernel) with UDP, ping, a wrong-key negative test and re-attach after a router reboot.
 */
import type { SuiteManifest } from "@tock-hil/board";

export const manifest: SuiteManifest = {
  name: "openthread",
  description:
    "OpenThread on Tock: a libtock-c OpenThread app on the nrf52840dk-thread-tutorial kernel attaches as a child to an " +
    "ot-cli router (ot-central-controller), exchanges UDP on port 1212 and answers ping; judged on both serial consoles.",
  roles: [
    { name: "router", boardType: "nrf52840dk", firmware: ["ot-central-controller"], silentBoot: true },
    {
      name: "node",
      boardType: "nrf52840dk",
      firmware: ["nrf52840dk-thread-tutorial", "openthread_hello"],
      extraFirmware: ["openthread_udp_rx", "openthread_udp_tx"],
    },
  ],
  tests: [
    {
      name: "openthread_hello",
      description: 'Within 10 s of the node\'s reset it prints "Successfully attached to Thread network as a child." (Tensile).',
      roles: ["router", "node"],
    },
    {
      name: "udp_node_to_router",
      description:
        'openthread_udp_tx sends "Hello OpenThread World from Tock!" to ff03::1 port 1212; the router (udp bind :: 1212) ' +
        "prints it byte for byte, from the node's ML-EID, within 20 s.",
      roles: ["router", "node"],
    },
    {
      name: "udp_router_to_node",
      description: "The router sends a datagram to the node's ML-EID port 1212; openthread_udp_rx prints the exact payload.",
      roles: ["router", "node"],
    },
    {
      name: "ping",
      description: "The router pings the attached node's ML-EID 3 times; at least 2 echo replies arrive.",
      roles: ["router", "node"],
    },
    {
      name: "wrong_network_key",
      description: "Negative test: with the router's network key changed, the node stays detached for 15 s (never prints Child).",
      roles: ["router", "node"],
    },
    {
      name: "router_reboot_reattach",
      description: "After the node attached, the router reboots; the node detaches and attaches again within 30 s.",
      roles: ["router", "node"],
    },
  ],
  // Radio roles must share one RF environment (an enclosure, or one emulated medium).
  sameGroup: true,
  timeoutMs: 10 * 60_000,
};
