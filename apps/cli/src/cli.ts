// Entry point of `hil` (bin/hil.js loads it through tsx). Errors become one line on stderr and exit code 2;
// `runs follow` sets exit code 1 when the run did not pass.
import { CommanderError } from "commander";
import { ApiError } from "./client.ts";
import { buildProgram } from "./program.ts";

const program = buildProgram({ out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env });
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; usage errors were already printed by commander.
    process.exitCode = err.exitCode;
  } else {
    console.error(`hil: ${err instanceof ApiError || err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  }
}
