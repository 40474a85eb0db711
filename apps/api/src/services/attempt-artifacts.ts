/**
 * Files runners record during attempts (medium captures, flash logs), stored content-addressed beside firmware and
 * listed per job.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import type { Db } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";
import { artifactPath, writeContentAddressed } from "./artifacts.ts";

export type JobArtifactView = {
  id: string;
  attempt: number;
  name: string;
  mediaType: string;
  size: number;
  sha256: string;
  createdAt: string;
};

export async function storeAttemptArtifact(
  db: Db,
  dataDir: string,
  runnerId: string,
  attemptId: string,
  input: { name: string; mediaType: string; bytes: Buffer },
): Promise<JobArtifactView> {
  const attempt = await db.attempt.findUnique({ where: { id: attemptId }, select: { runnerId: true, number: true } });
  if (!attempt || attempt.runnerId !== runnerId) throw notFound("attempt", attemptId);
  if (input.bytes.length === 0) throw new AppError(ErrorCode.VALIDATION, "the artifact is empty");
  const sha256 = createHash("sha256").update(input.bytes).digest("hex");
  await writeContentAddressed(dataDir, sha256, input.bytes);
  // Re-uploading the same name (a retry) replaces the record rather than duplicating it.
  const row = await db.attemptArtifact.upsert({
    where: { attemptId_name: { attemptId, name: input.name } },
    update: { mediaType: input.mediaType, sha256, size: input.bytes.length },
    create: { attemptId, name: input.name, mediaType: input.mediaType, sha256, size: input.bytes.length },
  });
  return {
    id: row.id,
    attempt: attempt.number,
    name: row.name,
    mediaType: row.mediaType,
    size: row.size,
    sha256: row.sha256,
    createdAt: row.createdAt.toISOString(),
  };
}

export async function listJobArtifacts(db: Db, jobId: string): Promise<JobArtifactView[]> {
  const job = await db.job.findUnique({ where: { id: jobId }, select: { id: true } });
  if (!job) throw notFound("job", jobId);
  const rows = await db.attemptArtifact.findMany({
    where: { attempt: { jobId } },
    include: { attempt: { select: { number: true } } },
    orderBy: [{ attempt: { number: "asc" } }, { name: "asc" }],
  });
  return rows.map((r) => ({
    id: r.id,
    attempt: r.attempt.number,
    name: r.name,
    mediaType: r.mediaType,
    size: r.size,
    sha256: r.sha256,
    createdAt: r.createdAt.toISOString(),
  }));
}

export async function openJobArtifact(db: Db, dataDir: string, jobId: string, artifactId: string) {
  const row = await db.attemptArtifact.findFirst({ where: { id: artifactId, attempt: { jobId } } });
  const path = row ? artifactPath(dataDir, row.sha256) : "";
  if (!row || !existsSync(path)) throw notFound("artifact", artifactId);
  return { artifact: row, stream: createReadStream(path) };
}
