/**
 * App models for the IPC suites. Legacy IPC: libtock-c's rot13 service/client pair (hwci
 * `ipc_rot13_client_service`). Multi-kernel IPC: echo services on each kernel, a silent one, a crashing one, and
 * `ipc_mk_client`, a test app on kernel 0 that runs the cross-kernel checks in order and prints what each call
 * returned: the identifiers, statuses and copy counts come from the IPC capsules' upcalls.
 */
import type { ProcessContext, ProcessModel } from "../boards/kernel-core.ts";
import type { LegacyIpcClient } from "./legacy-ipc.ts";
import type { GlobalId, IpcNgClient } from "./ipc-ng.ts";
import { IpcStatus, gidString, ipcStatusName } from "./ipc-ng.ts";

export type IpcDrivers = {
  ipc: LegacyIpcClient;
  ipcNg: IpcNgClient;
  /** Fault hooks the lab sets for a session (a hung service); never set on hardware. */
  emulation: { silentService: boolean };
};

type Ctx = ProcessContext<IpcDrivers>;

export const ROT13_SERVICE = "org.tockos.examples.rot13";
export const ROT13_PERIOD_MS = 500;

/** rot13 over the shared buffer `{ u8 length; char buf[31] }`, in place, then notify the client back. */
export const rot13Service: ProcessModel<IpcDrivers> = (ctx) => {
  const ipc = ctx.drivers.ipc;
  ipc.registerService(
    ctx.guard((client, _len, buf) => {
      if (!buf) return;
      const n = Math.min(buf[0] ?? 0, buf.length - 1);
      for (let i = 1; i <= n; i++) {
        const c = buf[i] ?? 0;
        if (c >= 0x41 && c <= 0x5a) buf[i] = ((c - 0x41 + 13) % 26) + 0x41;
        else if (c >= 0x61 && c <= 0x7a) buf[i] = ((c - 0x61 + 13) % 26) + 0x61;
      }
      ipc.notifyClient(client);
    }),
  );
};

export const rot13Client: ProcessModel<IpcDrivers> = (ctx) => {
  const ipc = ctx.drivers.ipc;
  const svc = ipc.discover(ROT13_SERVICE);
  if (svc < 0) return void ctx.print("No rot13 service\n");
  const buf = new Uint8Array(32);
  const text = new TextEncoder().encode("Hello World!");
  buf[0] = text.length;
  buf.set(text, 1);
  const show = (): void => ctx.print(`${buf[0]}: ${new TextDecoder().decode(buf.subarray(1, 1 + (buf[0] ?? 0)))}\n`);
  ipc.registerClient(
    svc,
    ctx.guard(() => {
      show();
      ctx.after(ROT13_PERIOD_MS, () => ipc.notifyService(svc));
    }),
  );
  if (ipc.share(svc, buf) !== 0) return void ctx.print("rot13: share failed\n");
  show();
  // Let the service register its callback first (it is loaded after the client in flash order too).
  ctx.after(10, () => ipc.notifyService(svc));
};

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * Echo service: answers each request with its payload upper-cased, from its own tx buffer. "restart" makes it
 * answer, then exit-restart (new generation).
 */
function echoService(label: string): ProcessModel<IpcDrivers> {
  return (ctx) => {
    const ng = ctx.drivers.ipcNg;
    const rx = new Uint8Array(128);
    const tx = new Uint8Array(128);
    ctx.print(`${label}: up as ${gidString(ng.self())}\n`);
    ng.registerRx(
      rx,
      ctx.guard((src, len, copies) => {
        const text = dec(rx.subarray(0, len));
        ctx.print(`${label}: request from ${gidString(src)} len ${len} copies ${copies}\n`);
        if (ctx.drivers.emulation.silentService) return;
        const reply = enc(text.toUpperCase());
        tx.set(reply);
        ng.send(
          src,
          tx,
          reply.length,
          500,
          ctx.guard((status) => {
            if (text === "restart" && status === IpcStatus.OK) ctx.exitRestart();
          }),
        );
      }),
    );
  };
}

export const echoLocal = echoService("ipc_echo_local");
export const echoRemote = echoService("ipc_echo_remote");

/** Receives and never answers (a hung server). */
export const silentService: ProcessModel<IpcDrivers> = (ctx) => {
  const rx = new Uint8Array(128);
  ctx.drivers.ipcNg.registerRx(
    rx,
    ctx.guard(() => undefined),
  );
};

/** Dereferences a bad pointer when asked: on a PanicFaultPolicy kernel that panics the whole kernel instance. */
export const crashService: ProcessModel<IpcDrivers> = (ctx) => {
  const rx = new Uint8Array(128);
  ctx.drivers.ipcNg.registerRx(
    rx,
    ctx.guard((_src, len) => {
      if (dec(rx.subarray(0, len)) === "crash") ctx.fault("memory fault at 0x00000000");
    }),
  );
};

export const MK = { requestTimeoutMs: 500, sendTimeoutMs: 300, discoverTimeoutMs: 500, heartbeats: 5, heartbeatMs: 200 } as const;

/** The cross-kernel test sequence. */
export const mkClient: ProcessModel<IpcDrivers> = (ctx: Ctx) => {
  const ng = ctx.drivers.ipcNg;
  const rx = new Uint8Array(128);
  const tx = new Uint8Array(128);
  let waiting: { from: GlobalId; resolve: (text: string, copies: number) => void } | undefined;
  ng.registerRx(
    rx,
    ctx.guard((src, len, copies) => {
      const w = waiting;
      if (!w || w.from.kernel !== src.kernel || w.from.pid !== src.pid) return;
      waiting = undefined;
      w.resolve(dec(rx.subarray(0, len)), copies);
    }),
  );
  ctx.print(`ipc_mk_client: self ${gidString(ng.self())}\n`);

  const discover = (name: string, next: (id: GlobalId | undefined) => void): void =>
    ng.discover(
      name,
      MK.discoverTimeoutMs,
      ctx.guard((status, id) => {
        ctx.print(`discover ${name} -> ${ipcStatusName(status)}${id ? ` ${gidString(id)}` : ""}\n`);
        next(id);
      }),
    );

  /** Sends `text` and waits for the response (or `requestTimeoutMs`). */
  const request = (to: GlobalId, text: string, next: (ok: boolean) => void): void => {
    const b = enc(text);
    tx.set(b);
    const start = ctx.nowMs();
    let settled = false;
    const settle = (line: string, ok: boolean): void => {
      if (settled) return;
      settled = true;
      waiting = undefined;
      ctx.print(line);
      next(ok);
    };
    waiting = {
      from: to,
      resolve: (reply, copies) => settle(`request ${gidString(to)} "${text}" -> "${reply}" response copies ${copies}\n`, true),
    };
    const rc = ng.send(
      to,
      tx,
      b.length,
      MK.sendTimeoutMs,
      ctx.guard((status) => {
        if (status !== IpcStatus.OK)
          settle(`request ${gidString(to)} "${text}" -> send ${ipcStatusName(status)} in ${Math.round(ctx.nowMs() - start)} ms\n`, false);
      }),
    );
    if (rc !== IpcStatus.OK) return settle(`request ${gidString(to)} "${text}" -> send refused ${ipcStatusName(rc)}\n`, false);
    ctx.after(MK.requestTimeoutMs, () =>
      settle(`request ${gidString(to)} "${text}" -> TIMEOUT after ${MK.requestTimeoutMs} ms (no response)\n`, false),
    );
  };

  const steps: ((next: () => void) => void)[] = [];
  let local: GlobalId | undefined;
  let remote: GlobalId | undefined;
  steps.push((next) => discover("ipc_echo_local", (id) => ((local = id), next())));
  steps.push((next) => discover("ipc_echo_remote", (id) => ((remote = id), next())));
  steps.push((next) => discover("no_such_service", () => next()));
  steps.push((next) => (local ? request(local, "hello local", () => next()) : next()));
  steps.push((next) => (remote ? request(remote, "hello remote", () => next()) : next()));
  steps.push((next) => {
    if (!remote) return next();
    const a = enc("one");
    tx.set(a);
    const first = ng.send(remote, tx, a.length, MK.sendTimeoutMs, () => undefined);
    const second = ng.send(remote, tx, a.length, MK.sendTimeoutMs, () => undefined);
    ctx.print(`in flight: first send ${ipcStatusName(first)}, second send ${ipcStatusName(second)}\n`);
    // Let the first message and its echo drain before the next step.
    ctx.after(100, next);
  });
  steps.push((next) =>
    discover("ipc_silent_service", (id) => {
      if (!id) return next();
      request(id, "are you there", () => next());
    }),
  );
  steps.push((next) => {
    if (!remote) return next();
    const old = remote;
    request(old, "restart", () =>
      ctx.after(50, () => {
        const b = enc("ping");
        tx.set(b);
        const rc = ng.send(
          old,
          tx,
          b.length,
          MK.sendTimeoutMs,
          ctx.guard((status) => {
            ctx.print(`send to ${gidString(old)} after restart -> ${ipcStatusName(status)}\n`);
            discover("ipc_echo_remote", (id) => {
              remote = id;
              if (!id) return next();
              request(id, "after restart", () => next());
            });
          }),
        );
        if (rc !== IpcStatus.OK) {
          ctx.print(`send to ${gidString(old)} after restart -> refused ${ipcStatusName(rc)}\n`);
          next();
        }
      }),
    );
  });
  steps.push((next) =>
    discover("ipc_crash_service", (id) => {
      if (!id) return next();
      const b = enc("crash");
      tx.set(b);
      ng.send(
        id,
        tx,
        b.length,
        MK.sendTimeoutMs,
        ctx.guard((status) => {
          ctx.print(`crash request -> ${ipcStatusName(status)}\n`);
          ctx.after(50, next);
        }),
      );
    }),
  );
  steps.push((next) => {
    if (!remote) return next();
    const target = remote;
    const b = enc("anyone?");
    tx.set(b);
    const start = ctx.nowMs();
    ng.send(
      target,
      tx,
      b.length,
      MK.sendTimeoutMs,
      ctx.guard((status) => {
        ctx.print(
          `send to ${gidString(target)} after remote panic -> ${ipcStatusName(status)} in ${Math.round(ctx.nowMs() - start)} ms (timeout ${MK.sendTimeoutMs} ms)\n`,
        );
        next();
      }),
    );
  });
  steps.push((next) => (local ? request(local, "still here", () => next()) : next()));
  steps.push((next) => {
    let n = 0;
    const beat = (): void => {
      ctx.print(`heartbeat ${++n}\n`);
      if (n < MK.heartbeats) ctx.after(MK.heartbeatMs, beat);
      else next();
    };
    beat();
  });
  steps.push(() => ctx.print("ipc_mk_client: done\n"));

  const run = (i: number): void => steps[i]?.(() => run(i + 1));
  // Give the services on both kernels time to boot and register.
  ctx.after(100, () => run(0));
};
