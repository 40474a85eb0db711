/**
 * Static description of the IPC suite (no code). One two-core board running two Tock kernel instances that share
 * only a bounded inter-kernel channel. Kernel 0 runs libtock-c's rot13 client/service pair (today's IPC), a local
 * echo service and ipc_mk_client, which exercises the multi-kernel IPC design against services on kernel 1 (echo,
 * silent, crashing). The board's console tags each line with its kernel ("[k0] ", "[k1] ").
 */
import type { SuiteManifest } from "@tock-hil/board";

export const manifest: SuiteManifest = {
  name: "ipc",
  description:
    "Tock IPC: the rot13 client/service pair within a kernel, and multi-kernel IPC across two kernel instances (discovery, " +
    "request/response with copy counts, one message in flight, timeouts, process restart generations, remote kernel panic).",
  roles: [
    {
      name: "dut",
      boardType: "qemu_rv32_virt_multikernel",
      firmware: [
        "qemu_rv32_virt_multikernel",
        "rot13_client",
        "org.tockos.examples.rot13",
        "ipc_mk_client",
        "ipc_echo_local",
        "ipc_echo_remote",
        "ipc_silent_service",
        "ipc_crash_service",
      ],
    },
  ],
  tests: [
    {
      name: "rot13",
      description: 'Kernel 0 prints exactly "12: Hello World!", "12: Uryyb Jbeyq!", ... (5 lines) within 10 s.',
      roles: ["dut"],
    },
    {
      name: "discovery",
      description:
        "Asynchronous discovery finds the local echo on kernel 0 and the remote echo on kernel 1 (ids differ in the kernel field); a missing name gives NODEVICE.",
      roles: ["dut"],
    },
    {
      name: "request_response",
      description: "Echo requests come back correct: 1 copy per direction within a kernel, 2 across kernels.",
      roles: ["dut"],
    },
    { name: "busy", description: "A second send while one message is in flight is refused with BUSY.", roles: ["dut"] },
    { name: "timeout", description: "A request to a service that never answers ends in TIMEOUT after 500 ms.", roles: ["dut"] },
    {
      name: "restart_generation",
      description:
        "After the remote service restarts, the old handle is refused as STALE and rediscovery gives the same process with the next generation.",
      roles: ["dut"],
    },
    {
      name: "remote_panic",
      description:
        "When kernel 1 panics, a send to it fails with TIMEOUT within its 300 ms timeout and kernel 0 keeps running (local IPC and heartbeats).",
      roles: ["dut"],
    },
  ],
  timeoutMs: 3 * 60_000,
};
