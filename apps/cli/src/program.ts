/**
 * The `hil` command: trigger and follow runs, read results, export JUnit, manage tokens. It talks to the REST API
 * only (never the database), so it works from any machine that can reach the API.
 */
import { writeFile } from "node:fs/promises";
import {
  ApiScope,
  ApiTokenView,
  CancelledJob,
  FlakyList,
  RegistrationTokenView,
  RegressionList,
  ResultList,
  Run,
  RunList,
  RunStatus,
  RunTrigger,
  TestHistory,
} from "@tock-hil/protocol";
import type { ResultItem } from "@tock-hil/protocol";
import { Command, InvalidArgumentError, Option } from "commander";
import { z } from "zod";
import { Client } from "./client.ts";

export type Io = { out: (s: string) => void; err: (s: string) => void; env: Record<string, string | undefined> };

const FINAL = ["passed", "failed", "error", "cancelled"];
const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be a non-negative integer");
  return n;
};
const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(",").filter(Boolean)];
const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

/** Fixed-width table: columns as wide as their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]!))).join("  ")).join("\n");
}

export function buildProgram(io: Io): Command {
  const program = new Command("hil")
    .description("Tock HIL lab: trigger runs, follow them, read results, manage tokens")
    .option("--url <url>", "API base URL (env HIL_URL)", io.env.HIL_URL ?? "http://127.0.0.1:3000")
    .option("--token <token>", "API token (env HIL_TOKEN)", io.env.HIL_TOKEN)
    .option("--json", "print JSON instead of tables")
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  const ctx = () => {
    const o = program.opts<{ url: string; token?: string; json?: boolean }>();
    return { client: new Client({ url: o.url, token: o.token }), json: o.json === true };
  };
  const print = (json: boolean, value: unknown, human: () => string) => io.out(`${json ? JSON.stringify(value, null, 2) : human()}\n`);

  const runs = program.command("runs").description("Runs: trigger, list, show, follow, results, JUnit");

  const resultRows = (results: ResultItem[]) =>
    table([
      ["SUITE", "TEST", "BOARDS", "STATUS", "TIME", "MESSAGE"],
      ...results.map((r) => [
        r.suite,
        r.test,
        r.boards.join(",") || "-",
        r.status + (r.flaky ? " (flaky)" : ""),
        `${(r.durationMs / 1000).toFixed(1)}s`,
        r.message ?? "",
      ]),
    ]);

  /** Polls until the run is final, printing each result once as it arrives. Exit code 0 only when it passed. */
  const follow = async (client: Client, id: string, json: boolean, intervalMs: number): Promise<number> => {
    const seen = new Set<string>();
    let lastLine = "";
    for (;;) {
      const run = await client.json("GET", `/api/v1/runs/${id}`, Run);
      const { results } = await client.json("GET", `/api/v1/runs/${id}/results`, ResultList);
      for (const r of results) {
        const key = `${r.suite}/${r.test}/${r.attempt}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (json) io.out(`${JSON.stringify({ event: "result", ...r })}\n`);
        else
          io.out(
            `  ${pad(r.status.toUpperCase(), 7)} ${r.suite}/${r.test} on ${r.boards.join(",") || "-"}${r.message ? `: ${r.message}` : ""}\n`,
          );
      }
      const done = run.jobs.filter((j) => FINAL.includes(j.status)).length;
      const line = `run ${run.id.slice(0, 8)} ${run.status}: ${done}/${run.jobs.length} jobs finished, ${results.length} results`;
      if (line !== lastLine) {
        if (json)
          io.out(
            `${JSON.stringify({ event: "progress", status: run.status, jobsDone: done, jobs: run.jobs.length, results: results.length })}\n`,
          );
        else io.out(`${line}\n`);
        lastLine = line;
      }
      if (FINAL.includes(run.status)) {
        if (run.message && !json) io.out(`${run.message}\n`);
        return run.status === "passed" ? 0 : 1;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };

  runs
    .command("trigger")
    .description("Queue a run (all suites by default)")
    .option("-s, --suite <name>", "suite to run (repeat or comma-separate)", collect)
    .option("-b, --board <type>", "board type to run on (repeat or comma-separate)", collect)
    .option("--ref <ref>", "git ref or commit under test")
    .option("--project <name>", "project")
    .option("--seed <n>", "seed for emulated labs", int)
    .option("--priority <n>", "scheduling priority (higher first)", int)
    .option("-f, --follow", "follow the run until it ends; exit code 1 unless it passed")
    .action(
      async (o: {
        suite?: string[];
        board?: string[];
        ref?: string;
        project?: string;
        seed?: number;
        priority?: number;
        follow?: boolean;
      }) => {
        const { client, json } = ctx();
        const body = {
          ...(o.suite ? { suites: o.suite } : {}),
          ...(o.board ? { boards: o.board } : {}),
          ...(o.ref ? { ref: o.ref } : {}),
          ...(o.project ? { project: o.project } : {}),
          ...(o.seed !== undefined ? { seed: o.seed } : {}),
          ...(o.priority !== undefined ? { priority: o.priority } : {}),
        };
        const run = await client.json("POST", "/api/v1/runs", Run, body);
        print(json, run, () => `queued run ${run.id} (${run.suites.join(", ")})`);
        if (o.follow) process.exitCode = await follow(client, run.id, json, 1000);
      },
    );

  runs
    .command("list")
    .description("List runs, newest first")
    .option("--project <name>")
    .addOption(new Option("--trigger <trigger>").choices(RunTrigger.options))
    .addOption(new Option("--status <status>").choices(RunStatus.options))
    .option("--ref <ref>")
    .option("--from <iso>", "created at or after (ISO date-time)")
    .option("--to <iso>", "created before (ISO date-time)")
    .option("-n, --limit <n>", "runs per page", int, 20)
    .option("--cursor <cursor>", "next page (printed after a full page)")
    .action(async (o: Record<string, string | number | undefined>) => {
      const { client, json } = ctx();
      const q = new URLSearchParams();
      for (const k of ["project", "trigger", "status", "ref", "from", "to", "limit", "cursor"])
        if (o[k] !== undefined) q.set(k, String(o[k]));
      const list = await client.json("GET", `/api/v1/runs?${q.toString()}`, RunList);
      print(json, list, () =>
        [
          table([
            ["ID", "STATUS", "PROJECT", "TRIGGER", "REF", "SUITES", "CREATED"],
            ...list.runs.map((r) => [r.id, r.status, r.project, r.trigger, r.ref ?? "-", r.suites.join(","), r.createdAt]),
          ]),
          list.nextCursor ? `more: --cursor ${list.nextCursor}` : "",
        ]
          .filter(Boolean)
          .join("\n"),
      );
    });

  runs
    .command("show <id>")
    .description("A run with its jobs and attempts")
    .action(async (id: string) => {
      const { client, json } = ctx();
      const run = await client.json("GET", `/api/v1/runs/${id}`, Run);
      print(json, run, () =>
        [
          `run ${run.id}  ${run.status}  project ${run.project}  ${run.trigger}  ref ${run.ref ?? "-"}`,
          `created ${run.createdAt}  started ${run.startedAt ?? "-"}  finished ${run.finishedAt ?? "-"}`,
          ...(run.message ? [run.message] : []),
          table([
            ["JOB", "SUITE", "STATUS", "ATTEMPTS"],
            ...run.jobs.map((j) => [
              j.id,
              j.suite,
              j.status + (j.endReason ? ` (${j.endReason})` : ""),
              j.attempts.map((a) => `#${a.number} ${a.status} on ${Object.values(a.boards).join(",")}`).join("; ") || "-",
            ]),
          ]),
          ...run.jobs.filter((j) => j.waiting).map((j) => `${j.suite} is waiting: ${j.waiting}`),
        ].join("\n"),
      );
    });

  runs
    .command("results <id>")
    .description("Per-test results of a run")
    .action(async (id: string) => {
      const { client, json } = ctx();
      const { results } = await client.json("GET", `/api/v1/runs/${id}/results`, ResultList);
      print(json, { results }, () => resultRows(results));
    });

  runs
    .command("follow <id>")
    .description("Follow a run live: results as they arrive and progress; exit code 1 unless it passed")
    .option("--interval <ms>", "poll interval", int, 1000)
    .action(async (id: string, o: { interval: number }) => {
      const { client, json } = ctx();
      process.exitCode = await follow(client, id, json, o.interval);
    });

  runs
    .command("junit <id>")
    .description("Export a run's results as JUnit XML")
    .option("-o, --output <file>", "write to this file instead of stdout")
    .action(async (id: string, o: { output?: string }) => {
      const { client } = ctx();
      const xml = await client.text("GET", `/api/v1/runs/${id}/junit.xml`);
      if (o.output) {
        await writeFile(o.output, xml);
        io.err(`wrote ${o.output}\n`);
      } else io.out(xml);
    });

  runs
    .command("priority")
    .description("Change a run's priority (higher first); its jobs that have not started follow")
    .argument("<id>", "run id")
    .argument("<priority>", "0..1000", int)
    .action(async (id: string, priority: number) => {
      const { client, json } = ctx();
      const run = await client.json("PATCH", `/api/v1/runs/${id}`, Run, { priority });
      print(json, run, () => `run ${run.id} ${run.status}, priority ${run.priority}`);
    });

  runs
    .command("cancel <id>")
    .description("Cancel a run")
    .action(async (id: string) => {
      const { client, json } = ctx();
      const run = await client.json("POST", `/api/v1/runs/${id}/cancel`, Run);
      print(json, run, () => `run ${run.id} ${run.status}`);
    });

  const jobs = program.command("jobs").description("Jobs: one suite of a run on its boards");
  jobs
    .command("cancel <id>")
    .description("Cancel one job of a run (its running attempt stops, unfinished tests end not_run)")
    .action(async (id: string) => {
      const { client, json } = ctx();
      const job = await client.json("POST", `/api/v1/jobs/${id}/cancel`, CancelledJob);
      print(json, job, () => `job ${job.id} ${job.status}`);
    });

  program
    .command("history <suite> <test>")
    .description("A test's results per run and board")
    .option("-n, --runs <n>", "runs to look back", int, 20)
    .action(async (suite: string, test: string, o: { runs: number }) => {
      const { client, json } = ctx();
      const h = await client.json(
        "GET",
        `/api/v1/tests/${encodeURIComponent(suite)}/${encodeURIComponent(test)}/history?runs=${o.runs}`,
        TestHistory,
      );
      print(json, h, () =>
        [
          table([
            ["BOARD", "RESULTS", "PASS RATE", "FLAKE"],
            ...h.boards.map((b) => [
              b.board,
              String(b.runs),
              b.passRate === null ? "-" : `${Math.round(b.passRate * 100)}%`,
              String(b.flakeScore),
            ]),
          ]),
          "",
          table([
            ["RUN", "REF", "WHEN", "BOARD", "STATUS"],
            ...h.entries.map((e) => [e.run.id.slice(0, 8), e.run.ref ?? "-", e.run.createdAt, e.board, e.status]),
          ]),
        ].join("\n"),
      );
    });

  program
    .command("regressions")
    .description("Tests that passed and then failed: suspect commit, last good run, fixed or not")
    .addOption(new Option("--state <state>").choices(["active", "fixed", "all"]).default("active"))
    .addOption(new Option("--trigger <trigger>").choices([...RunTrigger.options, "any"]).default("nightly"))
    .action(async (o: { state: string; trigger: string }) => {
      const { client, json } = ctx();
      const list = await client.json("GET", `/api/v1/regressions?state=${o.state}&trigger=${o.trigger}`, RegressionList);
      print(json, list, () =>
        table([
          ["STATE", "TEST", "BOARDS", "FIRST FAILING", "LAST PASSING", "FIXED IN"],
          ...list.regressions.map((r) => [
            r.state,
            `${r.suite}/${r.test}`,
            r.boards.join(","),
            r.firstFailing.ref ?? r.firstFailing.id,
            r.lastPassing.ref ?? r.lastPassing.id,
            r.fixedIn ? (r.fixedIn.ref ?? r.fixedIn.id) : "-",
          ]),
        ]),
      );
    });

  program
    .command("flaky")
    .description("Flaky tests by flake score")
    .action(async () => {
      const { client, json } = ctx();
      const list = await client.json("GET", "/api/v1/flaky?trigger=any", FlakyList);
      print(json, list, () =>
        table([
          ["SCORE", "TEST", "BOARD", "RUNS", "QUARANTINED"],
          ...list.flaky.map((f) => [String(f.score), `${f.suite}/${f.test}`, f.board, String(f.runs), f.quarantined ? "yes" : ""]),
        ]),
      );
    });

  const tokens = program.command("tokens").description("API tokens (admin)");
  tokens
    .command("create")
    .description("Create an API token; it is printed once")
    .requiredOption("--name <name>", "what the token is for")
    .requiredOption("--scope <scope>", `scopes: ${ApiScope.options.join(", ")} (repeat or comma-separate)`, collect)
    .action(async (o: { name: string; scope: string[] }) => {
      const bad = o.scope.filter((s) => !ApiScope.options.includes(s as ApiScope));
      if (bad.length > 0) throw new Error(`unknown scope ${bad.join(", ")}; use ${ApiScope.options.join(", ")}`);
      const { client, json } = ctx();
      const created = await client.json("POST", "/api/v1/tokens", z.object({ id: z.string(), token: z.string() }), {
        name: o.name,
        scopes: o.scope,
      });
      print(json, created, () => `created token ${created.id}\n${created.token}\n(store it now: it is not shown again)`);
    });
  tokens
    .command("list")
    .option("--revoked", "include revoked tokens")
    .action(async (o: { revoked?: boolean }) => {
      const { client, json } = ctx();
      const list = await client.json("GET", `/api/v1/tokens?revoked=${o.revoked === true}`, z.object({ tokens: z.array(ApiTokenView) }));
      print(json, list, () =>
        table([
          ["ID", "NAME", "SCOPES", "CREATED", "REVOKED"],
          ...list.tokens.map((t) => [t.id, t.name, t.scopes.join(","), t.createdAt, t.revokedAt ?? "-"]),
        ]),
      );
    });
  tokens.command("revoke <id>").action(async (id: string) => {
    const { client, json } = ctx();
    const t = await client.json("DELETE", `/api/v1/tokens/${id}`, ApiTokenView);
    print(json, t, () => `revoked ${t.name} (${t.id})`);
  });

  const reg = program.command("registration-tokens").description("One-time tokens runners register with (admin)");
  reg
    .command("create")
    .option("--note <note>", "which runner it is for")
    .option("--ttl <seconds>", "validity", int, 24 * 3600)
    .action(async (o: { note?: string; ttl: number }) => {
      const { client, json } = ctx();
      const created = await client.json("POST", "/api/v1/registration-tokens", z.object({ token: z.string(), expiresAt: z.string() }), {
        ttlSeconds: o.ttl,
        ...(o.note ? { note: o.note } : {}),
      });
      print(
        json,
        created,
        () =>
          `${created.token}\nexpires ${created.expiresAt}; on the runner: hil-runner register --url <api> --token <this> --config lab.yaml`,
      );
    });
  reg.command("list").action(async () => {
    const { client, json } = ctx();
    const list = await client.json("GET", "/api/v1/registration-tokens", z.object({ tokens: z.array(RegistrationTokenView) }));
    print(json, list, () =>
      table([
        ["ID", "NOTE", "EXPIRES", "USED BY"],
        ...list.tokens.map((t) => [t.id, t.note ?? "-", t.expiresAt, t.runner ?? (t.usedAt ? "(used)" : "-")]),
      ]),
    );
  });
  reg.command("revoke <id>").action(async (id: string) => {
    const { client } = ctx();
    await client.send("DELETE", `/api/v1/registration-tokens/${id}`);
    io.out(`revoked registration token ${id}\n`);
  });

  return program;
}
