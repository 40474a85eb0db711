/**
 * Models of libtock-c `examples/openthread/*`: libopenthread running in a Tock process on the raw 15.4 driver.
 *
 * The process is libtock-c's tasklet loop: run OpenThread's timers and outgoing frames, then `yield` until a frame
 * arrives or the next alarm fires. All traffic goes through the kernel's raw send/receive, so the radio,
 * medium, faults and captures see every frame. Printed lines come from OpenThread callbacks (role changes,
 * received datagrams), never from the model deciding what the test wants to see.
 */
import type { AppModel, AppProgram, AppSys } from "../apps/runtime.ts";
import { ReturnCode, print, sendRaw, waitFrame } from "../apps/runtime.ts";
import type { Rng } from "../prng.ts";
import type { Role } from "./node.ts";
import { ThreadNode } from "./node.ts";
import { THREAD_CHANNEL, THREAD_NETWORK_KEY, THREAD_PAN_ID, ip6ToString, parseIp6 } from "./wire.ts";

export const OT_UDP_PORT = 1212;
export const UDP_TX_PERIOD_MS = 2500;
export const UDP_TX_MESSAGE = "Hello OpenThread World from Tock!";
export const UDP_TX_DESTINATION = "ff03::1";
export const ATTACHED_LINE = "Successfully attached to Thread network as a child.";

const ROLE_LINES: Record<Role, string[]> = {
  disabled: ["[State Change] - Disabled."],
  detached: ["[State Change] - Detached."],
  child: ["[State Change] - Child.", ATTACHED_LINE],
  router: ["[State Change] - Router."],
  leader: ["[State Change] - Leader."],
};

type Features = { udpRx?: boolean; udpTx?: boolean };

/** The network key the app was built with; the `wrongNetworkKey` fault flips its last octet. */
function networkKey(sys: AppSys): Uint8Array {
  const key = THREAD_NETWORK_KEY.slice();
  if (sys.emulation.wrongNetworkKey) key[15] = (key[15] ?? 0) ^ 0xff;
  return key;
}

function* openthreadApp(sys: AppSys, features: Features): AppProgram {
  sys.ieee802154SetPan(THREAD_PAN_ID);
  sys.ieee802154SetChannel(THREAD_CHANNEL);
  sys.ieee802154ConfigCommit();
  if (sys.ieee802154Up() !== ReturnCode.SUCCESS) {
    yield* print("Error: could not turn radio on\n");
    return;
  }
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const outbox: Uint8Array[] = [];
  const lines: string[] = [];
  const rng: Rng = {
    nextU32: () => sys.random32(),
    next: () => sys.random32() / 4294967296,
    below: (n) => Math.floor((sys.random32() / 4294967296) * n),
  };
  const node = new ThreadNode(
    {
      now: () => sys.nowMs(),
      setTimer: (ms, fn) => {
        const t = { at: sys.nowMs() + ms, fn, cancelled: false };
        timers.push(t);
        return () => {
          t.cancelled = true;
        };
      },
      transmit: (frame) => outbox.push(frame),
      rng,
      onRoleChange: (role) => lines.push(...ROLE_LINES[role]),
    },
    { networkKey: networkKey(sys), panId: THREAD_PAN_ID, channel: THREAD_CHANNEL, extAddr: sys.deviceEui64(), ftd: false },
  );
  if (features.udpRx) {
    node.udpBind(OT_UDP_PORT, (d) => {
      const text = new TextDecoder().decode(d.payload);
      lines.push(`Received UDP packet [${d.payload.length} bytes] from ${ip6ToString(d.src)} ${text}`);
    });
  }
  // openthread_hello prints the node's unicast addresses before enabling Thread.
  for (const a of node.addresses()) yield* print(`${ip6ToString(a)}\n`);
  node.start();
  if (features.udpTx) {
    const dst = parseIp6(UDP_TX_DESTINATION) as Uint8Array;
    const payload = new TextEncoder().encode(UDP_TX_MESSAGE);
    const tick = (): void => {
      if (node.role === "child") node.udpSend(dst, OT_UDP_PORT, OT_UDP_PORT, payload);
      const t = { at: sys.nowMs() + UDP_TX_PERIOD_MS, fn: tick, cancelled: false };
      timers.push(t);
    };
    timers.push({ at: sys.nowMs() + UDP_TX_PERIOD_MS, fn: tick, cancelled: false });
  }
  for (;;) {
    // Tasklets: due timers in deadline order (ties in arming order), then output.
    for (;;) {
      const now = sys.nowMs();
      let next: (typeof timers)[number] | undefined;
      for (const t of timers) if (!t.cancelled && t.at <= now && (!next || t.at < next.at)) next = t;
      if (!next) break;
      next.cancelled = true;
      next.fn();
    }
    for (let i = timers.length - 1; i >= 0; i--) if (timers[i]?.cancelled) timers.splice(i, 1);
    while (lines.length > 0) yield* print(`${lines.shift() ?? ""}\n`);
    while (outbox.length > 0) {
      const frame = outbox.shift() as Uint8Array;
      // OpenThread's CSMA failure is a lost frame; its own retries (attach backoff) take care of the rest.
      yield* sendRaw(frame);
    }
    if (lines.length > 0) continue;
    const soonest = timers.reduce((m, t) => Math.min(m, t.at), Number.POSITIVE_INFINITY);
    const waitMs = Number.isFinite(soonest) ? Math.max(0, soonest - sys.nowMs()) : 3_600_000;
    const slot = yield* waitFrame(waitMs);
    if (slot) {
      // Raw driver slot: | header_len=0 | payload_len = frame length | mic_len=0 | frame |.
      const len = slot[1] ?? 0;
      node.onFrame(slot.subarray(3, 3 + len));
    }
  }
}

export const openthreadHello: AppModel = (sys) => openthreadApp(sys, {});
export const openthreadUdpRx: AppModel = (sys) => openthreadApp(sys, { udpRx: true });
export const openthreadUdpTx: AppModel = (sys) => openthreadApp(sys, { udpTx: true });
