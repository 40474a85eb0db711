/**
 * An API on real Postgres and Redis for the GitHub integration tests: like buildTestApp, but with a catalog of
 * single-board suites (so path filters have something to choose from), optionally listening (for FakeRunner), and
 * helpers to sign and send webhook deliveries.
 */
import { randomUUID } from "node:crypto";
import { signBody } from "../../src/github/signature.ts";
import type { SuiteCatalog } from "../../src/suites.ts";
import { ADMIN_TOKEN, buildTestApp } from "./build-app.ts";
import type { TestApp } from "./build-app.ts";

export { ADMIN_TOKEN };
export const WEBHOOK_SECRET = "test-webhook-secret-0123456789";

const suite = (name: string, boardType: string, app: string, test: string) => ({
  name,
  description: `${name} test suite`,
  roles: [{ name: "dut", boardType, firmware: [boardType, app] }],
  tests: [{ name: test, description: "", roles: ["dut"] }],
  timeoutMs: 60_000,
});

/** Three one-board suites: two radio suites on nRF52840DK and an Ethernet suite on another board type. */
export const GITHUB_SUITES: SuiteCatalog = new Map([
  ["ieee802154", suite("ieee802154", "nrf52840dk", "radio_tx", "radio_tx")],
  ["openthread", suite("openthread", "nrf52840dk", "ot_hello", "attach")],
  ["ethernet", suite("ethernet", "nucleo_f429zi", "eth_echo", "echo")],
]);

export type GithubTestApp = TestApp;

export function buildGithubTestApp(options: { env?: Record<string, string>; listen?: boolean } = {}): Promise<GithubTestApp> {
  return buildTestApp(
    {
      HIL_MAX_ATTEMPTS: "1",
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      HIL_PUBLIC_URL: "https://hil.example.org",
      HIL_REPORT_INTERVAL_MS: "200",
      ...options.env,
    },
    { suites: GITHUB_SUITES, listen: options.listen ?? false },
  );
}

export const auth = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

/** Sends a webhook delivery as GitHub does: JSON body, event and delivery headers, HMAC signature. */
export async function deliver(
  t: GithubTestApp,
  event: string,
  payload: unknown,
  options: { deliveryId?: string; secret?: string | null; signature?: string } = {},
) {
  const body = JSON.stringify(payload);
  const deliveryId = options.deliveryId ?? randomUUID();
  const signature = options.signature ?? (options.secret === null ? undefined : signBody(options.secret ?? WEBHOOK_SECRET, body));
  const res = await t.fastify.inject({
    method: "POST",
    url: "/api/v1/github/webhook",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": deliveryId,
      "user-agent": "GitHub-Hookshot/abc123",
      ...(signature ? { "x-hub-signature-256": signature } : {}),
    },
    payload: body,
  });
  return { res, deliveryId, json: res.json() };
}

/** Uploads firmware bytes (optionally linked to a commit) so runs can be planned. */
export async function uploadFirmware(t: GithubTestApp, name: string, boardType: string, bytes: Buffer, commit?: string) {
  const res = await t.fastify.inject({
    method: "POST",
    url: `/api/v1/artifacts?name=${name}&kind=${name === boardType ? "kernel" : "tbf"}&boardType=${boardType}${commit ? `&commit=${commit}` : ""}`,
    headers: { ...auth(), "content-type": "application/octet-stream" },
    payload: bytes,
  });
  if (res.statusCode >= 300) throw new Error(`upload ${name}: ${res.statusCode} ${res.body}`);
  return res.json<{ sha256: string }>();
}

/** Firmware for every suite of GITHUB_SUITES. */
export async function uploadAllFirmware(t: GithubTestApp): Promise<void> {
  for (const [name, boardType] of [
    ["nrf52840dk", "nrf52840dk"],
    ["radio_tx", "nrf52840dk"],
    ["ot_hello", "nrf52840dk"],
    ["nucleo_f429zi", "nucleo_f429zi"],
    ["eth_echo", "nucleo_f429zi"],
  ] as const) {
    await uploadFirmware(t, name, boardType, Buffer.from(`${name} image v1`));
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
