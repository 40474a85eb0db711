/**
 * `hil-emulator` command line.
 *
 *   hil-emulator build-firmware --out <dir> [--corrupt-header] [--disabled] [--channel N] [names...]
 *
 * Writes `<name>.bin` (kernels) / `<name>.tbf` (apps) and a `manifest.json` listing
 * `{ name, kind, file, sha256, size, boardType }` for each image. Default names: nrf52840dk, radio_tx, radio_rx.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_FIRMWARE, buildFirmware } from "./firmware.ts";

const USAGE = `usage: hil-emulator build-firmware --out <dir> [--corrupt-header] [--disabled] [--channel N] [names...]
  default names: ${DEFAULT_FIRMWARE.join(" ")}
`;

export type ManifestEntry = { name: string; kind: string; file: string; sha256: string; size: number; boardType: string };

/** Runs the CLI; returns the exit code. Output goes through the given writers so tests can capture it. */
export async function main(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void } = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  },
): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "build-firmware") {
    io.err(command === undefined || command === "--help" ? USAGE : `unknown command ${command}\n${USAGE}`);
    return command === "--help" ? 0 : 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        out: { type: "string" },
        "corrupt-header": { type: "boolean", default: false },
        disabled: { type: "boolean", default: false },
        channel: { type: "string" },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (!values.out) {
    io.err(`--out is required\n${USAGE}`);
    return 2;
  }
  const channel = values.channel === undefined ? undefined : Number.parseInt(values.channel, 10);
  if (channel !== undefined && !(channel >= 11 && channel <= 26)) {
    io.err(`--channel must be 11..26\n`);
    return 2;
  }
  const names = positionals.length > 0 ? positionals : [...DEFAULT_FIRMWARE];
  await mkdir(values.out, { recursive: true });
  const manifest: ManifestEntry[] = [];
  for (const name of names) {
    const fw = buildFirmware(name, {
      corruptHeader: values["corrupt-header"],
      enabled: !values.disabled,
      ...(channel === undefined ? {} : { channel }),
    });
    await writeFile(join(values.out, fw.file), fw.bytes);
    manifest.push({ name: fw.name, kind: fw.kind, file: fw.file, sha256: fw.sha256, size: fw.bytes.length, boardType: fw.boardType });
    io.out(`${fw.file} ${fw.kind} ${fw.bytes.length} bytes sha256 ${fw.sha256}\n`);
  }
  await writeFile(join(values.out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return 0;
}

// Only act as a program when run directly (the bin shim imports this module for its side effect).
if (process.argv[1] && /hil-emulator(\.js)?$|cli\.ts$/.test(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
