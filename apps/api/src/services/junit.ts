/**
 * JUnit XML export of a run, for CI systems and test dashboards that read it. One <testsuite> per suite and board
 * set (the same test on other boards is a different case to a reader). Failures carry their message and the
 * serial log span the verdict was judged on; infra errors are <error>; skipped and not-run tests are <skipped>.
 * Built from the same read as GET /runs/:id/results, so the counts always agree with the REST view.
 */
import type { ResultItem } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import type { SuiteCatalog } from "../suites.ts";
import { readLogRange } from "./runner-protocol.ts";
import { getRun, getRunResults } from "./runs.ts";

/** Serial excerpts longer than this keep their end: the lines just before a verdict explain it best. */
const MAX_EXCERPT_BYTES = 16 * 1024;

/** XML 1.0 forbids most control characters even when escaped; serial logs of crashing boards contain them. */
const clean = (s: string) => s.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "\uFFFD");
const esc = (s: string) =>
  clean(s).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
const secs = (ms: number) => (ms / 1000).toFixed(3);

export type JunitCounts = { tests: number; failures: number; errors: number; skipped: number };

export function countsOf(items: Pick<ResultItem, "status">[]): JunitCounts {
  return {
    tests: items.length,
    failures: items.filter((i) => i.status === "fail").length,
    errors: items.filter((i) => i.status === "error").length,
    skipped: items.filter((i) => i.status === "skip" || i.status === "not_run").length,
  };
}

export async function runJunit(db: Db, catalog: SuiteCatalog, runId: string): Promise<string> {
  const run = await getRun(db, runId);
  const items = await getRunResults(db, catalog, runId);
  const attemptIds = new Map(run.jobs.flatMap((j) => j.attempts.map((a) => [`${j.suite}#${a.number}`, a.id] as const)));

  const excerpt = async (item: ResultItem): Promise<string> => {
    const span = item.logSpan;
    const attemptId = attemptIds.get(`${item.suite}#${item.attempt}`);
    if (!span || !attemptId || span.end <= span.start) return "";
    const start = Math.max(span.start, span.end - MAX_EXCERPT_BYTES);
    const bytes = await readLogRange(db, attemptId, span.role, start, span.end).catch(() => Buffer.alloc(0));
    const head = `--- serial log of ${span.role} (${span.board}), bytes ${start}-${span.end}${start > span.start ? " (truncated)" : ""} ---\n`;
    return head + bytes.toString("utf8");
  };

  const groups = new Map<string, ResultItem[]>();
  for (const item of items) {
    const key = `${item.suite}@${item.boards.length > 0 ? [...item.boards].sort().join("+") : "no-boards"}`;
    const list = groups.get(key);
    if (list) list.push(item);
    else groups.set(key, [item]);
  }

  const total = countsOf(items);
  const time = items.reduce((t, i) => t + i.durationMs, 0);
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="${esc(`hil run ${run.id}`)}" tests="${total.tests}" failures="${total.failures}" errors="${total.errors}" skipped="${total.skipped}" time="${secs(time)}">`,
  ];
  let id = 0;
  for (const [name, group] of groups) {
    const c = countsOf(group);
    const boards = group[0]!.boards;
    out.push(
      `  <testsuite id="${id++}" name="${esc(name)}" package="${esc(group[0]!.suite)}" tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}" time="${secs(group.reduce((t, i) => t + i.durationMs, 0))}" timestamp="${esc(run.startedAt ?? run.createdAt)}" hostname="${esc(boards.join("+") || "none")}">`,
      `    <properties>`,
      `      <property name="run" value="${esc(run.id)}"/>`,
      `      <property name="ref" value="${esc(run.ref ?? "")}"/>`,
      `      <property name="project" value="${esc(run.project)}"/>`,
      `      <property name="boards" value="${esc(boards.join(","))}"/>`,
      `    </properties>`,
    );
    for (const item of group) {
      const open = `    <testcase name="${esc(item.test)}" classname="${esc(`${item.suite}.${boards.join("+") || "none"}`)}" time="${secs(item.durationMs)}"`;
      const message = item.message ?? "";
      if (item.status === "fail") {
        const text = await excerpt(item);
        out.push(
          `${open}>`,
          `      <failure message="${esc(message || "failed")}" type="fail">${esc(`${message}\n${text}`.trim())}</failure>`,
        );
      } else if (item.status === "error") {
        out.push(`${open}>`, `      <error message="${esc(message || "infra error")}" type="infra">${esc(message)}</error>`);
      } else if (item.status === "skip" || item.status === "not_run") {
        out.push(`${open}>`, `      <skipped message="${esc(item.status === "not_run" ? `not run: ${message}` : message || "skipped")}"/>`);
      } else if (item.tries <= 1) {
        out.push(`${open}/>`);
        continue;
      } else {
        out.push(`${open}>`);
      }
      if (item.tries > 1) out.push(`      <system-out>${esc(`tries: ${item.tries}${item.flaky ? " (flaky)" : ""}`)}</system-out>`);
      out.push(`    </testcase>`);
    }
    out.push(`  </testsuite>`);
  }
  out.push(`</testsuites>`, "");
  return out.join("\n");
}
