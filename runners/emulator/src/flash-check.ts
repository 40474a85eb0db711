/**
 * What every emulated board checks when flashed, as a flash tool plus the kernel's loader would: exactly one kernel
 * image, built for this board and fitting its kernel region, then the apps (TBFs, or the TBF for this board's
 * architecture from a TAB) with valid headers, placed one after the other in the app region. Any problem is a
 * FlashError that names the image.
 */
import type { FirmwareImage, FlashReport } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import type { KernelImageInfo } from "./kernel-image.ts";
import { KernelImageError, parseKernelImage } from "./kernel-image.ts";
import type { LoadedApp } from "./kernel.ts";
import { appTbf } from "./tab.ts";
import { TbfError, parseTbf } from "./tbf.ts";

export type FlashLayout = { kernelAddress: number; kernelSize: number; appsAddress: number; appsSize: number };

export type CheckedImages = {
  kernel: KernelImageInfo;
  kernelImage: FirmwareImage;
  apps: LoadedApp[];
  /** Logical image names and TBF package names on the board (fault targets). */
  names: Set<string>;
  written: FlashReport["written"];
};

export function describeImage(image: FirmwareImage): string {
  return `${image.name} (sha256 ${image.sha256.slice(0, 8)}…)`;
}

export function checkImages(board: { name: string; type: string }, layout: FlashLayout, images: FirmwareImage[]): CheckedImages {
  const kernels = images.filter((i) => i.kind === "kernel");
  if (kernels.length !== 1) {
    throw new FlashError(
      "invalid_image",
      `${board.name}: expected exactly one kernel image, got ${kernels.length}` +
        (kernels.length > 0 ? ` (${kernels.map(describeImage).join(", ")})` : ""),
    );
  }
  const kernelImage = kernels[0]!;
  let kernel: KernelImageInfo;
  try {
    kernel = parseKernelImage(kernelImage.bytes);
  } catch (err) {
    if (err instanceof KernelImageError)
      throw new FlashError("invalid_image", `${describeImage(kernelImage)}: ${err.message}`, kernelImage.name);
    throw err;
  }
  if (kernel.board !== board.type) {
    throw new FlashError(
      "wrong_board",
      `${describeImage(kernelImage)}: kernel is built for board "${kernel.board}", ${board.name} is a ${board.type}`,
      kernelImage.name,
    );
  }
  if (kernel.totalSize > layout.kernelSize) {
    throw new FlashError(
      "invalid_image",
      `${describeImage(kernelImage)}: kernel does not fit in the ${layout.kernelSize / 1024} KiB kernel region`,
      kernelImage.name,
    );
  }
  const written: FlashReport["written"] = [
    { name: kernelImage.name, sha256: kernelImage.sha256, address: layout.kernelAddress, size: kernelImage.bytes.length },
  ];
  const apps: LoadedApp[] = [];
  const names = new Set<string>([kernelImage.name]);
  let address = layout.appsAddress;
  for (const image of images) {
    if (image.kind === "kernel") continue;
    // A TAB contributes the TBF for this board's architecture (or is refused, naming the image).
    const tbf = appTbf(image, board.name, board.type, describeImage);
    let header;
    try {
      header = parseTbf(tbf);
    } catch (err) {
      if (err instanceof TbfError) throw new FlashError("invalid_image", `${describeImage(image)}: ${err.message}`, image.name);
      throw err;
    }
    if (address + header.totalSize > layout.appsAddress + layout.appsSize) {
      throw new FlashError(
        "invalid_image",
        `${describeImage(image)}: apps do not fit in the ${layout.appsSize / 1024} KiB app region`,
        image.name,
      );
    }
    apps.push({ header, address });
    names.add(image.name);
    if (header.packageName) names.add(header.packageName);
    written.push({ name: image.name, sha256: image.sha256, address, size: header.totalSize });
    address += header.totalSize;
  }
  return { kernel, kernelImage, apps, names, written };
}

/**
 * The flashHang fault: the debug probe stops answering part-way through the write, as a wedged J-Link or a board
 * held in reset does. Like a real tool talking to a dead probe, the flash then only ends when the caller gives up
 * (its signal), and the board is left erased. Targets are "all", the board's name, or a name being flashed.
 */
export async function stallIfProbeHangs(
  board: { name: string },
  targets: readonly string[],
  checked: Pick<CheckedImages, "names" | "written">,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!targets.some((t) => t === "all" || t === board.name || checked.names.has(t))) return;
  await new Promise<void>((resolve) => {
    if (!signal) return; // nobody bounds this flash: it hangs, as it would on the bench
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  const timedOut = signal?.reason instanceof DOMException && signal.reason.name === "TimeoutError";
  // Stopped from outside: say why (cancelled, the job's bound, a shutdown), as the runner's logs do.
  const why = signal?.reason instanceof Error ? signal.reason.message : "cancelled";
  throw new FlashError(
    timedOut ? "timeout" : "cancelled",
    `${board.name}: the debug probe stopped answering while writing ${checked.written[0]?.name ?? "the kernel"}` +
      (timedOut ? "; gave up" : `; flashing was stopped (${why})`),
  );
}
