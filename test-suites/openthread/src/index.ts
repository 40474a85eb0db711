/**
 * The OpenThread suite, against the narrow board interface only: the router is driven through its ot-cli console
 * and the Tock node is judged on what its OpenThread app prints, so the same code runs on real boards.
 */
import type { Board, ConsoleLog, FirmwareImage, Suite, TestCase, TestContext, TestOutcome } from "@tock-hil/board";
import { forRole as role, testManifest } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import { manifest } from "./manifest.ts";

export { manifest } from "./manifest.ts";

export const ATTACHED_LINE = "Successfully attached to Thread network as a child.";
export const CHILD_LINE = "[State Change] - Child.";
export const DETACHED_LINE = "[State Change] - Detached.";
export const ATTACH_WINDOW_MS = 10_000;
export const UDP_PORT = 1212;
export const UDP_TX_MESSAGE = "Hello OpenThread World from Tock!";
/** Time the router gets after reset to form its partition before the node starts (Tensile flashes it earlier). */
export const ROUTER_STARTUP_MS = 3000;
/** A network key that differs from the tutorial dataset's 00112233445566778899aabbccddeeff. */
export const OTHER_NETWORK_KEY = "ffeeddccbbaa99887766554433221100";
const POLL_MS = 100;

const lines = (text: string): string[] => text.split("\n").map((l) => l.replace(/\r$/, ""));

/** Polls a console until `found` returns a value or `timeoutMs` of lab time pass. */
async function waitFor<T>(
  ctx: TestContext,
  log: ConsoleLog,
  from: number,
  timeoutMs: number,
  found: (text: string) => T | undefined,
): Promise<T | undefined> {
  const deadline = ctx.clock.now() + timeoutMs;
  for (;;) {
    const v = found(log.textSince(from));
    if (v !== undefined) return v;
    if (ctx.clock.now() >= deadline) return undefined;
    await ctx.clock.sleep(Math.min(POLL_MS, deadline - ctx.clock.now()), ctx.signal);
  }
}

/** Runs an ot-cli command and returns its output lines (without the echo) once `Done`/`Error` arrives. */
async function cli(
  ctx: TestContext,
  board: Board,
  log: ConsoleLog,
  command: string,
  timeoutMs = 2000,
): Promise<{ ok: boolean; lines: string[] } | undefined> {
  const from = log.offset();
  await board.serial.write(`${command}\r\n`);
  return waitFor(ctx, log, from, timeoutMs, (text) => {
    const ls = lines(text);
    const end = ls.findIndex((l) => l === "Done" || /^Error \d+: /.test(l));
    if (end < 0) return undefined;
    const start = ls.indexOf(command);
    return { ok: ls[end] === "Done", lines: ls.slice(start + 1, end) };
  });
}

async function flashNode(ctx: TestContext, app: string): Promise<TestOutcome | undefined> {
  const node = role(ctx.boards, "node", "board");
  const images = role(ctx.firmware, "node", "firmware");
  const wanted = ["nrf52840dk-thread-tutorial", app].map((n) => images[n]);
  if (wanted.some((i) => i === undefined)) return { status: "error", message: `node firmware for ${app} is missing from the job` };
  try {
    await node.flash(wanted as FirmwareImage[], ctx.signal);
    return undefined;
  } catch (err) {
    if (err instanceof FlashError) return { status: "error", message: `flashing ${node.name} failed (${err.code}): ${err.message}` };
    throw err;
  }
}

type Setup = { router: Board; node: Board; routerLog: ConsoleLog; nodeLog: ConsoleLog; nodeStart: number; routerStart: number };

/** Flashes the node's app, resets the router, lets it form, then resets the node. */
async function start(ctx: TestContext, app: string): Promise<Setup | TestOutcome> {
  const flashed = await flashNode(ctx, app);
  if (flashed) return flashed;
  const router = role(ctx.boards, "router", "board");
  const node = role(ctx.boards, "node", "board");
  const routerLog = role(ctx.consoles, "router", "console log");
  const nodeLog = role(ctx.consoles, "node", "console log");
  await node.halt();
  const routerStart = routerLog.offset();
  await router.reset();
  await ctx.clock.sleep(ROUTER_STARTUP_MS, ctx.signal);
  const nodeStart = nodeLog.offset();
  await node.reset();
  return { router, node, routerLog, nodeLog, nodeStart, routerStart };
}

const isSetup = (s: Setup | TestOutcome): s is Setup => "router" in s;

/** Waits for the attach line; returns the ms it took from the node's reset. */
async function waitAttached(ctx: TestContext, s: Setup, from: number, timeoutMs: number): Promise<number | undefined> {
  const t0 = ctx.clock.now();
  const seen = await waitFor(ctx, s.nodeLog, from, timeoutMs, (t) => (lines(t).includes(ATTACHED_LINE) ? true : undefined));
  return seen ? ctx.clock.now() - t0 : undefined;
}

/** The node's ML-EID as its app printed it at start (the unicast address in the mesh-local prefix). */
function nodeMleid(text: string): string | undefined {
  return lines(text).find((l) => /^fd[0-9a-f]{2}:[0-9a-f:]+$/.test(l));
}

async function finish(s: Setup): Promise<void> {
  await s.node.halt();
  await s.router.halt();
}

const openthreadHello: TestCase = {
  ...testManifest(manifest, "openthread_hello"),
  async run(ctx) {
    const s = await start(ctx, "openthread_hello");
    if (!isSetup(s)) return s;
    try {
      const ms = await waitAttached(ctx, s, s.nodeStart, ATTACH_WINDOW_MS);
      const end = s.nodeLog.offset();
      const text = s.nodeLog.textSince(s.nodeStart);
      const logSpan = { role: "node", start: s.nodeStart, end };
      if (ms === undefined) {
        return {
          status: "fail",
          message:
            `openthread_hello: no "${ATTACHED_LINE}" within ${ATTACH_WINDOW_MS / 1000} s of reset` +
            (text.includes(DETACHED_LINE) ? " (node stayed detached)" : ""),
          measurements: { attached: false },
          logSpan,
        };
      }
      // Role changes must come in order: detached before child, and an MTD never becomes router or leader.
      const ls = lines(text);
      if (
        ls.indexOf(DETACHED_LINE) < 0 ||
        ls.indexOf(DETACHED_LINE) > ls.indexOf(CHILD_LINE) ||
        ls.some((l) => /- (Router|Leader)\.$/.test(l))
      ) {
        return { status: "fail", message: "openthread_hello: role changes out of order or not those of a child", logSpan };
      }
      return { status: "pass", measurements: { attached: true, attachMs: ms }, logSpan };
    } finally {
      await finish(s);
    }
  },
};

const udpNodeToRouter: TestCase = {
  ...testManifest(manifest, "udp_node_to_router"),
  async run(ctx) {
    const s = await start(ctx, "openthread_udp_tx");
    if (!isSetup(s)) return s;
    try {
      const open = await cli(ctx, s.router, s.routerLog, "udp open");
      const bind = await cli(ctx, s.router, s.routerLog, `udp bind :: ${UDP_PORT}`);
      if (!open?.ok || !bind?.ok) return { status: "error", message: "router did not accept udp open / udp bind" };
      const from = s.routerLog.offset();
      const re = /^(\d+) bytes from ([0-9a-f:]+) (\d+) (.*)$/;
      const got = await waitFor(
        ctx,
        s.routerLog,
        from,
        20_000,
        (t) =>
          lines(t)
            .map((l) => re.exec(l))
            .find((m) => m !== null) ?? undefined,
      );
      const logSpan = { role: "router", start: from, end: s.routerLog.offset() };
      if (!got) return { status: "fail", message: "udp_node_to_router: the router received no datagram on port 1212 within 20 s", logSpan };
      const [, length, src, , payload] = got;
      const mleid = nodeMleid(s.nodeLog.textSince(s.nodeStart));
      const exact = payload === UDP_TX_MESSAGE && Number(length) === new TextEncoder().encode(UDP_TX_MESSAGE).length;
      if (!exact)
        return {
          status: "fail",
          message: `udp_node_to_router: payload ${JSON.stringify(payload)} (${length} bytes) differs from what the node sent`,
          logSpan,
        };
      if (src !== mleid)
        return {
          status: "fail",
          message: `udp_node_to_router: datagram came from ${src}, node's ML-EID is ${mleid ?? "not printed"}`,
          logSpan,
        };
      return { status: "pass", measurements: { bytes: Number(length) }, logSpan };
    } finally {
      await finish(s);
    }
  },
};

const udpRouterToNode: TestCase = {
  ...testManifest(manifest, "udp_router_to_node"),
  async run(ctx) {
    const s = await start(ctx, "openthread_udp_rx");
    if (!isSetup(s)) return s;
    try {
      if ((await waitAttached(ctx, s, s.nodeStart, ATTACH_WINDOW_MS)) === undefined) {
        return { status: "fail", message: "udp_router_to_node: the node did not attach within 10 s" };
      }
      const mleid = nodeMleid(s.nodeLog.textSince(s.nodeStart));
      if (!mleid) return { status: "fail", message: "udp_router_to_node: the node printed no mesh-local address" };
      const payload = `tock-hil-${Math.floor(ctx.clock.now())}`;
      const from = s.nodeLog.offset();
      await cli(ctx, s.router, s.routerLog, "udp open");
      const sent = await cli(ctx, s.router, s.routerLog, `udp send ${mleid} ${UDP_PORT} ${payload}`);
      if (!sent?.ok)
        return { status: "fail", message: `udp_router_to_node: router could not send (${sent?.lines.join(" ") ?? "no answer"})` };
      const re = /^Received UDP packet \[(\d+) bytes\] from ([0-9a-f:]+) (.*)$/;
      const got = await waitFor(
        ctx,
        s.nodeLog,
        from,
        5000,
        (t) =>
          lines(t)
            .map((l) => re.exec(l))
            .find((m) => m !== null) ?? undefined,
      );
      const logSpan = { role: "node", start: from, end: s.nodeLog.offset() };
      if (!got) return { status: "fail", message: "udp_router_to_node: the node printed no received datagram within 5 s", logSpan };
      if (got[3] !== payload || Number(got[1]) !== payload.length) {
        return {
          status: "fail",
          message: `udp_router_to_node: node printed ${JSON.stringify(got[3])}, router sent ${JSON.stringify(payload)}`,
          logSpan,
        };
      }
      return { status: "pass", measurements: { bytes: payload.length }, logSpan };
    } finally {
      await finish(s);
    }
  },
};

const ping: TestCase = {
  ...testManifest(manifest, "ping"),
  async run(ctx) {
    const s = await start(ctx, "openthread_hello");
    if (!isSetup(s)) return s;
    try {
      if ((await waitAttached(ctx, s, s.nodeStart, ATTACH_WINDOW_MS)) === undefined)
        return { status: "fail", message: "ping: the node did not attach within 10 s" };
      const mleid = nodeMleid(s.nodeLog.textSince(s.nodeStart));
      if (!mleid) return { status: "fail", message: "ping: the node printed no mesh-local address" };
      const from = s.routerLog.offset();
      const out = await cli(ctx, s.router, s.routerLog, `ping ${mleid} 16 3`, 10_000);
      const logSpan = { role: "router", start: from, end: s.routerLog.offset() };
      const replies = (out?.lines ?? []).filter((l) => l.startsWith(`24 bytes from ${mleid}: icmp_seq=`)).length;
      const measurements = { sent: 3, replies };
      if (replies < 2)
        return { status: "fail", message: `ping: ${replies} of 3 echo replies from ${mleid}, needs 2`, measurements, logSpan };
      return { status: "pass", measurements, logSpan };
    } finally {
      await finish(s);
    }
  },
};

const wrongNetworkKey: TestCase = {
  ...testManifest(manifest, "wrong_network_key"),
  async run(ctx) {
    const flashed = await flashNode(ctx, "openthread_hello");
    if (flashed) return flashed;
    const router = role(ctx.boards, "router", "board");
    const node = role(ctx.boards, "node", "board");
    const routerLog = role(ctx.consoles, "router", "console log");
    const nodeLog = role(ctx.consoles, "node", "console log");
    try {
      await node.halt();
      await router.reset();
      await ctx.clock.sleep(200, ctx.signal);
      for (const c of ["thread stop", `dataset networkkey ${OTHER_NETWORK_KEY}`, "dataset commit active", "thread start"]) {
        const r = await cli(ctx, router, routerLog, c);
        if (!r?.ok) return { status: "error", message: `router rejected "${c}": ${r?.lines.join(" ") ?? "no answer"}` };
      }
      await ctx.clock.sleep(ROUTER_STARTUP_MS, ctx.signal);
      const state = await cli(ctx, router, routerLog, "state");
      if (state?.lines[0] !== "leader")
        return { status: "error", message: `router with the other key is ${state?.lines[0] ?? "silent"}, not leader` };
      const from = nodeLog.offset();
      await node.reset();
      await ctx.clock.sleep(15_000, ctx.signal);
      const text = nodeLog.textSince(from);
      const logSpan = { role: "node", start: from, end: nodeLog.offset() };
      const ls = lines(text);
      if (!ls.includes(DETACHED_LINE))
        return { status: "error", message: "wrong_network_key: node app never started Thread (no Detached line)", logSpan };
      if (ls.includes(CHILD_LINE) || ls.includes(ATTACHED_LINE))
        return { status: "fail", message: "wrong_network_key: node attached to a router with another network key", logSpan };
      return { status: "pass", message: "node stayed detached for 15 s", logSpan };
    } finally {
      await node.halt();
      // Reflashing erases the router's settings, so later tests get the tutorial dataset back.
      const image = role(ctx.firmware, "router", "firmware")["ot-central-controller"];
      if (image) await router.flash([image], ctx.signal).catch(() => undefined);
    }
  },
};

const routerRebootReattach: TestCase = {
  ...testManifest(manifest, "router_reboot_reattach"),
  async run(ctx) {
    const s = await start(ctx, "openthread_hello");
    if (!isSetup(s)) return s;
    try {
      if ((await waitAttached(ctx, s, s.nodeStart, ATTACH_WINDOW_MS)) === undefined) {
        return { status: "fail", message: "router_reboot_reattach: the node did not attach in the first place" };
      }
      const from = s.nodeLog.offset();
      await s.router.reset();
      const ms = await waitAttached(ctx, s, from, 30_000);
      const logSpan = { role: "node", start: from, end: s.nodeLog.offset() };
      const detached = lines(s.nodeLog.textSince(from)).includes(DETACHED_LINE);
      if (ms === undefined)
        return {
          status: "fail",
          message: `router_reboot_reattach: no re-attach within 30 s of the router reboot${detached ? " (node detached)" : ""}`,
          logSpan,
        };
      if (!detached) return { status: "fail", message: "router_reboot_reattach: attach line without a preceding Detached", logSpan };
      return { status: "pass", measurements: { reattachMs: ms }, logSpan };
    } finally {
      await finish(s);
    }
  },
};

export const suite: Suite = {
  manifest,
  tests: [openthreadHello, udpNodeToRouter, udpRouterToNode, ping, wrongNetworkKey, routerRebootReattach],
};
export default suite;
