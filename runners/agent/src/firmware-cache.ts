/**
 * Firmware images cached on disk by SHA-256. Every image is verified against its digest when downloaded and again
 * when read from the cache, so a corrupted cache file is re-fetched rather than flashed.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FirmwareImage } from "@tock-hil/board";
import type { LeasedFirmware } from "@tock-hil/protocol";
import type { ApiClient } from "./api-client.ts";

export class FirmwareUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FirmwareUnavailableError";
  }
}

const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export class FirmwareCache {
  constructor(
    private readonly dir: string,
    private readonly api: ApiClient,
  ) {}

  private path(sha256: string) {
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async get(fw: LeasedFirmware, signal?: AbortSignal): Promise<FirmwareImage & { cached: boolean }> {
    const path = this.path(fw.sha256);
    const cached = await readFile(path).catch(() => undefined);
    if (cached && digest(cached) === fw.sha256) return { name: fw.name, kind: fw.kind, sha256: fw.sha256, bytes: cached, cached: true };
    if (cached) await rm(path, { force: true });

    let bytes: Uint8Array;
    try {
      bytes = await this.api.downloadArtifact(fw.sha256, signal);
    } catch (err) {
      throw new FirmwareUnavailableError(`cannot download firmware ${fw.name} (sha256 ${fw.sha256}): ${(err as Error).message}`);
    }
    const actual = digest(bytes);
    if (actual !== fw.sha256) {
      throw new FirmwareUnavailableError(
        `firmware ${fw.name} failed verification: expected sha256 ${fw.sha256}, downloaded bytes hash to ${actual}`,
      );
    }
    await mkdir(join(this.dir, fw.sha256.slice(0, 2)), { recursive: true });
    const tmp = `${path}.${randomUUID()}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, path);
    return { name: fw.name, kind: fw.kind, sha256: fw.sha256, bytes, cached: false };
  }
}
