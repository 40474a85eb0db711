/**
 * `hil-runner`: the runner CLI installed on lab machines.
 *   hil-runner register --url URL --token REGISTRATION_TOKEN --config lab.yaml
 *   hil-runner start --config lab.yaml
 *   hil-runner doctor [--config lab.yaml]
 *   hil-runner boards --config lab.yaml [--token READ_TOKEN]
 */
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { Command } from "commander";
import { pino } from "pino";
import { Agent } from "./agent.ts";
import { ApiClient } from "./api-client.ts";
import { readCredentials, writeCredentials } from "./credentials.ts";
import { parseRunnerEnv } from "./env.ts";
import { FirmwareCache } from "./firmware-cache.ts";
import { loadLabConfig } from "./lab-config.ts";
import { createLab } from "./labs.ts";
import { suites } from "./suites.ts";

const VERSION = "0.1.0";

function fail(message: string): never {
  process.stderr.write(`hil-runner: ${message}\n`);
  process.exit(1);
}

const program = new Command()
  .name("hil-runner")
  .description("Runner agent of the Tock HIL orchestrator: drives a lab's boards and runs the jobs the API leases to it")
  .version(VERSION);

program
  .command("register")
  .description("Exchange a one-time registration token for this runner's token and store it (mode 0600)")
  .requiredOption("--url <url>", "API base URL, e.g. http://127.0.0.1:3000")
  .requiredOption("--token <token>", "one-time registration token (POST /api/v1/registration-tokens)")
  .option("--config <path>", "lab configuration file (YAML); its name and credentials path are used", "lab.yaml")
  .option("--name <name>", "runner name when there is no lab config yet (default: this host's name)")
  .action(async (opts: { url: string; token: string; config: string; name?: string }) => {
    try {
      // Registering before writing lab.yaml is fine: the credentials then go to ./runner-credentials.json, which is
      // where a lab.yaml in this folder looks for them by default.
      const config = existsSync(opts.config) ? await loadLabConfig(opts.config) : undefined;
      const name = opts.name ?? config?.name ?? hostname();
      const credentialsPath = config?.credentialsPath ?? resolve("runner-credentials.json");
      const api = new ApiClient(opts.url, undefined);
      const res = await api.register({ registrationToken: opts.token, name, hostname: hostname(), version: VERSION });
      await writeCredentials(credentialsPath, { url: opts.url, runnerId: res.runnerId, name, token: res.token });
      process.stdout.write(`registered runner ${name} (${res.runnerId}); credentials written to ${credentialsPath}\n`);
    } catch (err) {
      fail((err as Error).message);
    }
  });

program
  .command("start")
  .description("Announce the lab's boards and run jobs until stopped (SIGINT/SIGTERM: finish or release the current job)")
  .requiredOption("--config <path>", "lab configuration file (YAML)")
  .action(async (opts: { config: string }) => {
    let env, config, credentials;
    try {
      env = parseRunnerEnv(process.env);
      config = await loadLabConfig(opts.config);
      credentials = await readCredentials(config.credentialsPath);
    } catch (err) {
      fail((err as Error).message);
    }
    const logger = pino({
      name: "runner",
      level: env.LOG_LEVEL,
      base: { runner: credentials.name },
      ...(process.stdout.isTTY
        ? { transport: { target: "pino-pretty", options: { translateTime: "HH:MM:ss.l", ignore: "pid,hostname" } } }
        : {}),
    });
    // Warn per retry; every 10th retry of one call is an error, so an API that keeps failing a call the runner
    // must not give up on (the end of an attempt) shows up in error-level alerting, not only as a stream of warnings.
    const api = new ApiClient(credentials.url, credentials.token, undefined, (info) =>
      logger[info.attempt % 10 === 0 ? "error" : "warn"](
        { path: info.path, attempt: info.attempt, delayMs: info.delayMs, error: info.error },
        info.attempt % 10 === 0 ? `API still failing after ${info.attempt} retries; retrying` : "API unreachable; retrying",
      ),
    );
    const lab = await createLab(config, { logger, workDir: config.workPath });
    const agent = new Agent({
      api,
      lab,
      config,
      cache: new FirmwareCache(config.cachePath, api),
      suites,
      logger,
      leaseWaitMs: env.HIL_RUNNER_LEASE_WAIT_MS,
    });

    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: aborting the current attempt now");
        agent.abortNow();
        return;
      }
      stopping = true;
      logger.info({ signal, graceMs: env.HIL_RUNNER_SHUTDOWN_GRACE_MS }, "stopping: no new work will be leased");
      // Bounded whatever happens: after the grace period the attempt is aborted (its tools are killed) and
      // reported; if the API cannot even take that report, exit anyway rather than hang systemd's stop.
      setTimeout(() => {
        logger.error("shutdown did not complete in time; exiting");
        process.exit(1);
      }, env.HIL_RUNNER_SHUTDOWN_GRACE_MS + 20_000).unref();
      void agent.stop(env.HIL_RUNNER_SHUTDOWN_GRACE_MS).then(() => {
        logger.info("stopped");
        process.exit(0);
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    try {
      await agent.start();
      logger.info({ api: credentials.url, boards: config.boards.length }, "runner started");
    } catch (err) {
      if (!stopping) fail((err as Error).message);
    }
  });

program
  .command("doctor")
  .description("Look for serial devices, debug probes and flash tools, check every board of the lab config, and say what is missing")
  .option("--config <path>", "lab configuration file (YAML)", "lab.yaml")
  .action(async (opts: { config: string }) => {
    const report = await (await import("./doctor.ts")).runDoctor({ configPath: resolve(opts.config), path: process.env.PATH ?? "" });
    process.stdout.write(report.text);
    process.exitCode = report.problems > 0 ? 1 : 0;
  });

program
  .command("boards")
  .description("This runner's boards as the API sees them (health, state), next to how lab.yaml wires them")
  .requiredOption("--config <path>", "lab configuration file (YAML)")
  .option("--token <token>", "an API token with read scope (runner tokens cannot read the inventory); not needed with public read")
  .action(async (opts: { config: string; token?: string }) => {
    let config, credentials;
    try {
      config = await loadLabConfig(opts.config);
      credentials = await readCredentials(config.credentialsPath);
    } catch (err) {
      fail((err as Error).message);
    }
    const res = await fetch(new URL("/api/v1/boards", credentials.url), {
      headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
      signal: AbortSignal.timeout(15_000),
    }).catch((err: unknown) => fail(`cannot reach the API at ${credentials.url}: ${(err as Error).message}`));
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
      fail(
        `the API answered ${res.status} for GET /api/v1/boards: ${body.error?.message ?? res.statusText}` +
          (res.status === 401 ? " (pass --token with an API token that has read scope)" : ""),
      );
    }
    const { boards } = (await res.json()) as {
      boards: { name: string; type: string; runner: string; state: string; health: string; lastSeenAt: string | null }[];
    };
    const mine = new Map(boards.filter((b) => b.runner === credentials.name).map((b) => [b.name, b]));
    const rows = [["BOARD", "TYPE", "HEALTH", "STATE", "WIRING (lab.yaml)"]];
    for (const b of config.boards) {
      const seen = mine.get(b.name);
      mine.delete(b.name);
      const wiring =
        b.adapter === "emulated"
          ? "emulated"
          : `${b.flash.method} probe ${b.probe.serial ?? "-"}, console ${b.serial.device}@${b.serial.baud}`;
      rows.push([b.name, b.type, seen?.health ?? "not announced", seen?.state ?? "-", wiring]);
    }
    for (const b of mine.values()) rows.push([b.name, b.type, b.health, b.state, "not in lab.yaml (removed?)"]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    process.stdout.write(`runner ${credentials.name} at ${credentials.url}\n`);
    for (const r of rows)
      process.stdout.write(
        `${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd()}\n`,
      );
  });

await program.parseAsync(process.argv);
