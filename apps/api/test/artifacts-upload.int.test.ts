/**
 * Streamed firmware uploads: digest checked while streaming, size limit enforced before and during the stream,
 * and a refused upload leaves nothing behind (no file, no row).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, auth, buildGithubTestApp } from "./helpers/github-app.ts";
import type { GithubTestApp } from "./helpers/github-app.ts";
import { sha } from "./helpers/github-payloads.ts";

let t: GithubTestApp;
const LIMIT = 4096;

/** Every file under $HIL_DATA_DIR/artifacts (temporary ones included). */
function storedFiles(): string[] {
  const root = join(t.env.HIL_DATA_DIR, "artifacts");
  if (!existsSync(root)) return [];
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
  return walk(root);
}

const upload = (query: string, bytes: Buffer) =>
  t.fastify.inject({
    method: "POST",
    url: `/api/v1/artifacts?${query}`,
    headers: { ...auth(), "content-type": "application/octet-stream" },
    payload: bytes,
  });

beforeAll(async () => {
  t = await buildGithubTestApp({ listen: true, env: { HIL_MAX_ARTIFACT_BYTES: String(LIMIT) } });
});
afterAll(async () => {
  await t?.close();
});

describe("POST /api/v1/artifacts", () => {
  it("refuses a wrong digest with 400 and keeps neither bytes nor a row", async () => {
    const bytes = Buffer.from("kernel image with a typo in the declared digest");
    const res = await upload(`name=nrf52840dk&kind=kernel&boardType=nrf52840dk&sha256=${"0".repeat(64)}`, bytes);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: "VALIDATION" });
    expect(res.json().error.message).toContain(`received bytes hash to ${createHash("sha256").update(bytes).digest("hex")}`);
    expect(storedFiles()).toEqual([]);
    expect(await t.prisma.artifact.count()).toBe(0);
  });

  it("refuses an upload over HIL_MAX_ARTIFACT_BYTES with 413, by its Content-Length, keeping nothing", async () => {
    const res = await upload("name=big&kind=tbf", Buffer.alloc(LIMIT + 1, 7));
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(res.json().error.message).toContain("HIL_MAX_ARTIFACT_BYTES");
    expect(storedFiles()).toEqual([]);
    expect(await t.prisma.artifact.count()).toBe(0);
  });

  it("refuses a chunked upload (no Content-Length) once the stream passes the limit, keeping nothing", async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${t.url}/api/v1/artifacts?name=big&kind=tbf`,
        { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/octet-stream" } },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on("error", reject);
      // Six 1 KiB chunks, sent with transfer-encoding: chunked.
      let sent = 0;
      const next = (): void => {
        if (sent++ === 6) {
          req.end();
          return;
        }
        // The server may answer 413 and stop reading before the last chunks; their write errors are expected.
        req.write(Buffer.alloc(1024, sent), () => setTimeout(next, 5));
      };
      next();
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(storedFiles()).toEqual([]);
    expect(await t.prisma.artifact.count()).toBe(0);
  });

  it("stores a correct upload under its digest, links it to the commit it was built from, and is idempotent", async () => {
    const bytes = Buffer.from("radio_tx TBF built by CI");
    const digest = createHash("sha256").update(bytes).digest("hex");
    const commit = sha("ci-build");
    const query = `name=radio_tx&kind=tbf&boardType=nrf52840dk&sha256=${digest}&commit=${commit}`;
    const first = await upload(query, bytes);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ sha256: digest, size: bytes.length, name: "radio_tx" });
    expect(storedFiles()).toEqual([join(t.env.HIL_DATA_DIR, "artifacts", digest.slice(0, 2), digest)]);
    const again = await upload(query, bytes);
    expect(again.statusCode).toBe(200);
    expect(await t.prisma.artifactCommit.findMany({ select: { commitSha: true } })).toEqual([{ commitSha: commit }]);
    const badCommit = await upload("name=radio_tx&kind=tbf&commit=main", bytes);
    expect(badCommit.statusCode).toBe(400);
    expect(badCommit.json().error.message).toMatch(/commit.*40-character/);
  });
});
