/**
 * Streamed firmware uploads. The body goes to a temporary file while it is hashed and counted, and only a complete
 * upload whose digest matches the declared one is renamed to its content address and recorded. Anything else
 * (too large, wrong digest, interrupted) removes the temporary file: no bytes, no row.
 */
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import type { ArtifactView, FirmwareKind } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import { AppError, ErrorCode } from "../errors.ts";
import { artifactPath } from "./artifacts.ts";

export type ArtifactUpload = {
  stream: Readable;
  maxBytes: number;
  /** Content-Length, when the client sent one: a too-large upload is refused before a byte is read. */
  declaredLength?: number | undefined;
  name: string;
  kind: FirmwareKind;
  boardType?: string | undefined;
  expectedSha256?: string | undefined;
  /** Commit the firmware was built from: runs for that commit flash it (see github/store.ts firmwarePinsFor). */
  commit?: string | undefined;
};

const tooLarge = (max: number) =>
  new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `the upload exceeds HIL_MAX_ARTIFACT_BYTES (${max} bytes); firmware images are far smaller`);

/** Writes the stream to `tmp`, returning its size and SHA-256; rejects (without destroying the request) when too large. */
function receive(stream: Readable, tmp: string, maxBytes: number): Promise<{ size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const out = createWriteStream(tmp, { flags: "wx" });
    let size = 0;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      stream.off("data", onData);
      out.destroy();
      // The request is left alone so the error response can still be sent; Node discards the unread rest.
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return fail(tooLarge(maxBytes));
      hash.update(chunk);
      if (!out.write(chunk)) {
        stream.pause();
        out.once("drain", () => stream.resume());
      }
    };
    stream.on("data", onData);
    stream.once("error", (err) => fail(new AppError(ErrorCode.VALIDATION, `the upload was interrupted: ${err.message}`)));
    stream.once("aborted", () => fail(new AppError(ErrorCode.VALIDATION, "the upload was interrupted; send it again")));
    out.once("error", (err) => fail(err));
    stream.once("end", () => {
      if (settled) return;
      out.end(() => {
        if (settled) return;
        settled = true;
        resolve({ size, sha256: hash.digest("hex") });
      });
    });
  });
}

export async function storeArtifactStream(
  db: Db,
  dataDir: string,
  input: ArtifactUpload,
): Promise<{ artifact: ArtifactView; created: boolean }> {
  if (input.declaredLength !== undefined && input.declaredLength > input.maxBytes) {
    throw tooLarge(input.maxBytes);
  }
  const tmpDir = join(dataDir, "artifacts", "tmp");
  await mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${randomUUID()}.part`);
  let received: { size: number; sha256: string };
  try {
    received = await receive(input.stream, tmp, input.maxBytes);
    if (received.size === 0) throw new AppError(ErrorCode.VALIDATION, "the upload is empty; send the firmware bytes as the request body");
    if (input.expectedSha256 && input.expectedSha256 !== received.sha256) {
      throw new AppError(
        ErrorCode.VALIDATION,
        `sha256 mismatch: declared ${input.expectedSha256}, received bytes hash to ${received.sha256}; nothing was stored`,
      );
    }
    const path = artifactPath(dataDir, received.sha256);
    if (existsSync(path)) await rm(tmp, { force: true });
    else {
      await mkdir(dirname(path), { recursive: true });
      await rename(tmp, path);
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const { sha256, size } = received;
  let row = await db.artifact.findUnique({ where: { sha256 } });
  const created = !row;
  row ??= await db.artifact.upsert({
    where: { sha256 },
    update: {},
    create: { sha256, size, kind: input.kind, name: input.name, boardType: input.boardType ?? null },
  });
  if (input.commit) {
    await db.artifactCommit.upsert({
      where: { artifactId_commitSha: { artifactId: row.id, commitSha: input.commit } },
      update: {},
      create: { artifactId: row.id, commitSha: input.commit },
    });
  }
  return {
    artifact: {
      id: row.id,
      sha256: row.sha256,
      size: row.size,
      kind: row.kind,
      name: row.name,
      boardType: row.boardType,
      createdAt: row.createdAt.toISOString(),
    },
    created,
  };
}
