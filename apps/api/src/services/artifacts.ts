/**
 * Firmware artifacts, content-addressed by SHA-256: bytes live under $HIL_DATA_DIR/artifacts/<aa>/<sha256>, and
 * metadata in Postgres. The same bytes uploaded twice are stored once.
 */
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ArtifactView, FirmwareKind } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";

export const artifactPath = (dataDir: string, sha256: string) => join(dataDir, "artifacts", sha256.slice(0, 2), sha256);

/** Stores bytes under their digest; idempotent. Written to a temporary name and renamed, so readers never see half a file. */
export async function writeContentAddressed(dataDir: string, sha256: string, bytes: Uint8Array): Promise<void> {
  const path = artifactPath(dataDir, sha256);
  if (existsSync(path)) return;
  await mkdir(join(dataDir, "artifacts", sha256.slice(0, 2)), { recursive: true });
  const tmp = `${path}.${randomUUID()}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

const view = (a: {
  id: string;
  sha256: string;
  size: number;
  kind: FirmwareKind;
  name: string;
  boardType: string | null;
  createdAt: Date;
}): ArtifactView => ({
  id: a.id,
  sha256: a.sha256,
  size: a.size,
  kind: a.kind,
  name: a.name,
  boardType: a.boardType,
  createdAt: a.createdAt.toISOString(),
});

export async function storeArtifact(
  db: Db,
  dataDir: string,
  input: { bytes: Buffer; name: string; kind: FirmwareKind; boardType?: string | undefined; expectedSha256?: string | undefined },
): Promise<{ artifact: ArtifactView; created: boolean }> {
  if (input.bytes.length === 0)
    throw new AppError(ErrorCode.VALIDATION, "the upload is empty; send the firmware bytes as the request body");
  const sha256 = createHash("sha256").update(input.bytes).digest("hex");
  if (input.expectedSha256 && input.expectedSha256 !== sha256) {
    throw new AppError(ErrorCode.VALIDATION, `sha256 mismatch: declared ${input.expectedSha256}, received bytes hash to ${sha256}`);
  }
  const existing = await db.artifact.findUnique({ where: { sha256 } });
  await writeContentAddressed(dataDir, sha256, input.bytes);
  if (existing) return { artifact: view(existing), created: false };
  const row = await db.artifact.create({
    data: { sha256, size: input.bytes.length, kind: input.kind, name: input.name, boardType: input.boardType ?? null },
  });
  return { artifact: view(row), created: true };
}

export async function listArtifacts(db: Db, name?: string): Promise<ArtifactView[]> {
  const rows = await db.artifact.findMany({ where: name ? { name } : {}, orderBy: { createdAt: "desc" }, take: 200 });
  return rows.map(view);
}

export async function openArtifact(db: Db, dataDir: string, sha256: string) {
  const row = await db.artifact.findUnique({ where: { sha256 } });
  const path = artifactPath(dataDir, sha256);
  if (!row || !existsSync(path)) throw notFound("artifact", sha256);
  return { artifact: view(row), stream: createReadStream(path) };
}
