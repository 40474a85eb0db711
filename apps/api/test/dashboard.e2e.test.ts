/**
 * The dashboard in headless Chromium against the real API and an emulated lab: the nightly matrix, a run page
 * following a live run's merged serial log, cancelling from the run page, a test history with its chart, the
 * triage lists and the boards page. Every page must load without console errors; screenshots land in
 * apps/api/test/screenshots/ (gitignored).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Run } from "@tock-hil/protocol";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrisma } from "../src/db.ts";
import { ADMIN, call, startStack, waitForRun } from "./helpers/processes.ts";
import type { Stack } from "./helpers/processes.ts";
import { night, seedLab, seedRun } from "./helpers/seed-results.ts";

const SHOTS = join(import.meta.dirname, "screenshots");
const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

let stack: Stack;
let browser: Browser;

/** A page that records console errors, uncaught exceptions and any request leaving the API's origin. */
async function open(path: string) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  const requests: string[] = [];
  const origin = new URL(stack.api.url).origin;
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    requests.push(r.url());
    const url = new URL(r.url());
    if (url.protocol.startsWith("http") && url.origin !== origin) problems.push(`external request: ${r.url()}`);
  });
  await page.goto(`${stack.api.url}${path}`);
  return { page, problems, requests };
}

const ready = (page: Page) => page.waitForSelector("body[data-ready]", { timeout: 30_000 });

beforeAll(async () => {
  // The default lab (four emulated nRF52840DKs) can place every ieee802154 job (up to three roles).
  stack = await startStack();
  // A month of seeded nightly history on a second (record-only) lab, so the matrix and history have depth.
  const prisma = createPrisma(stack.api.env.DATABASE_URL!, 2);
  try {
    const boards = await seedLab(prisma, ["hist-1", "hist-2", "hist-3"], "history-lab");
    for (let i = 0; i < 30; i++) {
      await seedRun(prisma, boards, {
        ref: `nightly-${String(i).padStart(2, "0")}`,
        createdAt: night(i),
        status: i >= 20 ? "failed" : "passed",
        jobs: [
          {
            suite: "ieee802154",
            tests: ["radio_tx", "radio_rx"],
            status: i >= 20 ? "failed" : "passed",
            attempts: [
              {
                boards: { tx: "hist-1", rx: "hist-2" },
                results: [
                  { test: "radio_tx", status: "pass", measurements: { frames: 10 } },
                  i >= 20 ? { test: "radio_rx", status: "fail", message: "received 7 of 10 frames" } : { test: "radio_rx", status: "pass" },
                ],
              },
            ],
          },
          {
            suite: "flashing",
            tests: ["flash_kernel"],
            status: i % 2 ? "failed" : "passed",
            attempts: [{ boards: { dut: "hist-3" }, results: [{ test: "flash_kernel", status: i % 2 ? "fail" : "pass" }] }],
          },
        ],
      });
    }
  } finally {
    await prisma.$disconnect();
  }
  await mkdir(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe("dashboard in headless Chromium", () => {
  it("shows the nightly matrix with coloured cells, flaky marks and links to results", async () => {
    const { page, problems } = await open("/dashboard/");
    await ready(page);
    expect(await page.locator(".error-box").count()).toBe(0);
    expect(await page.locator("body").textContent()).not.toContain("[object");
    expect(await page.locator(".legend span").count()).toBe(6);
    expect(await page.locator("th.night").count()).toBe(30);
    expect(await page.locator("td.cell a.c-F").count()).toBeGreaterThan(10);
    expect(await page.locator("td.cell a.c-P").count()).toBeGreaterThan(30);
    expect(await page.locator(".flag.flaky").count()).toBeGreaterThan(0);
    const href = await page.locator("td.cell a.c-F").first().getAttribute("href");
    expect(href).toMatch(/^run\.html\?id=[0-9a-f-]{36}#/);
    await page.screenshot({ path: join(SHOTS, "matrix.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("follows a live run: merged serial log over SSE, results table and highlighted test spans", async () => {
    const created = await call<Run>(stack.api.url, "POST", "/api/v1/runs", { suites: ["ieee802154"] }, ADMIN);
    expect(created.status).toBe(201);
    // Open the page while the run is still queued, so the log arrives through the live tail.
    const { page, problems, requests } = await open(`/dashboard/run.html?id=${created.body.id}`);
    await page.waitForSelector("body[data-loaded]", { timeout: 30_000 });
    const final = await waitForRun<Run>(stack.api.url, created.body.id, 90_000).catch((err: Error) => {
      const api = stack.api
        .output()
        .split("\n")
        .filter((l) => /"level":(40|50|60)/.test(l));
      throw new Error(`${err.message}\nrunner output:\n${stack.runner.output().slice(-2000)}\napi warnings:\n${api.slice(-10).join("\n")}`);
    });
    await ready(page);
    // Every job's log tail ended ("complete (N lines)" under each job heading).
    await page.waitForFunction(
      `[...document.querySelectorAll("h2 .muted")].every((e) => /complete \\(\\d+ lines\\)|no attempt ran/.test(e.textContent))`,
      null,
      { timeout: 30_000 },
    );
    expect(await page.locator(".log .line").count()).toBeGreaterThan(3);
    // Lines of several boards are in the one merged view.
    const boardsInLog = await page.locator(".log .who").allTextContents();
    expect(new Set(boardsInLog).size).toBeGreaterThanOrEqual(2);
    expect(await page.locator("tr.result").count()).toBeGreaterThan(0);
    const results = await call<{ results: { logSpan?: unknown }[] }>(stack.api.url, "GET", `/api/v1/runs/${created.body.id}/results`);
    if (results.body.results.some((r) => r.logSpan)) {
      expect(await page.locator(".log .span-pass, .log .span-fail, .log .span-error").count()).toBeGreaterThan(0);
    }
    expect(final.status).toMatch(/passed|failed/);
    expect(requests.some((u) => u.includes("/logs/tail"))).toBe(true);
    await page.screenshot({ path: join(SHOTS, "run.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows a test's history with a pass-rate chart", async () => {
    const { page, problems } = await open("/dashboard/test.html?suite=ieee802154&test=radio_rx");
    await ready(page);
    expect(await page.locator(".error-box").count()).toBe(0);
    expect(await page.locator("svg.chart circle").count()).toBeGreaterThanOrEqual(30);
    expect(await page.locator("svg.chart polyline").count()).toBe(1);
    expect(await page.getByText("received 7 of 10 frames").count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, "test-history.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("lists regressions and flaky tests", async () => {
    const { page, problems } = await open("/dashboard/regressions.html");
    await ready(page);
    expect(await page.getByText("nightly-20").count()).toBeGreaterThan(0);
    expect(await page.locator("table").nth(1).getByText("flash_kernel").count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, "regressions.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("cancels a job, then the whole run, from the run page with a token", async () => {
    // The lab has only nRF52840DKs, so these jobs wait for boards until they are cancelled.
    const created = await call<Run>(stack.api.url, "POST", "/api/v1/runs", { suites: ["ethernet", "wifi"], ref: "waiting" });
    expect(created.status).toBe(201);
    const id = created.body.id;
    // Opened at once, before the run's jobs are planned: the page adds their sections as they appear.
    const { page, problems } = await open(`/dashboard/run.html?id=${id}`);
    await page.waitForSelector("body[data-loaded]");
    await page.fill("#token", ADMIN);
    // Save reloads the page: wait for the new one, not the old one's marker.
    await Promise.all([page.waitForEvent("load"), page.click("text=Save")]);
    await page.waitForSelector("body[data-loaded]");
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await expect
      .poll(async () => (await call<Run>(stack.api.url, "GET", `/api/v1/runs/${id}`)).body.jobs.length, { timeout: 10_000 })
      .toBe(2);
    const wifi = (await call<Run>(stack.api.url, "GET", `/api/v1/runs/${id}`)).body.jobs.find((j) => j.suite === "wifi")!;
    // Each waiting job says why it has not started.
    const waiting = page.locator(`p.waiting[data-job="${wifi.id}"]`);
    await waiting.waitFor();
    expect(await waiting.textContent()).toMatch(/^Waiting: no runner has a raspberry_pi_pico_w board \(needs /);
    await page.click(`button.cancel-job[data-job="${wifi.id}"]`);
    await page.waitForSelector(`button.cancel-job[data-job="${wifi.id}"]`, { state: "hidden" });
    let run = (await call<Run>(stack.api.url, "GET", `/api/v1/runs/${id}`)).body;
    expect(Object.fromEntries(run.jobs.map((j) => [j.suite, j.status]))).toEqual({ ethernet: "queued", wifi: "cancelled" });
    expect(await waiting.isHidden()).toBe(true);
    expect(await page.isVisible("#cancel-run")).toBe(true);

    await page.click("#cancel-run");
    await page.waitForSelector("h1 .st-cancelled");
    await ready(page);
    expect(await page.isHidden("#cancel-run")).toBe(true);
    expect(dialogs).toEqual([expect.stringMatching(/^Cancel the wifi job\?/), expect.stringMatching(/^Cancel this run\?/)]);
    run = (await call<Run>(stack.api.url, "GET", `/api/v1/runs/${id}`)).body;
    expect(run.status).toBe("cancelled");
    const { results } = (await call<{ results: { status: string }[] }>(stack.api.url, "GET", `/api/v1/runs/${id}/results`)).body;
    expect(results.length).toBeGreaterThan(0);
    expect(new Set(results.map((r) => r.status))).toEqual(new Set(["not_run"]));
    await page.screenshot({ path: join(SHOTS, "run-cancelled.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows runners and boards and puts a board into maintenance as admin", async () => {
    const { page, problems } = await open("/dashboard/boards.html");
    await ready(page);
    expect(await page.locator("#boards tbody tr").count()).toBe(7);
    await page.fill("#token", ADMIN);
    await page.click("text=Save");
    await ready(page);
    await page.locator('tr[data-board="hist-3"] button', { hasText: "Maintenance" }).click();
    await page.waitForSelector('tr[data-board="hist-3"] .st-maintenance');
    await page.screenshot({ path: join(SHOTS, "boards.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });
});
