// A test's history: pass rate chart (inline SVG), per-board scores and every result, newest first.
/* global document */
import { put, api, badge, h, layout, params, runLink, showError, when } from "./common.js";

const app = layout("", "Test history");
const SVG = "http://www.w3.org/2000/svg";
const s = (tag, attrs, text) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
};

/** Per run (oldest first): share of the test's decisive results that passed, and a 7-run moving average. */
function chart(entries) {
  const byRun = new Map();
  for (const e of [...entries].reverse()) {
    const r = byRun.get(e.run.id) || { run: e.run, pass: 0, decisive: 0 };
    if (e.status === "pass" || e.status === "fail") r.decisive++;
    if (e.status === "pass") r.pass++;
    byRun.set(e.run.id, r);
  }
  const points = [...byRun.values()].filter((r) => r.decisive > 0);
  const W = 760,
    H = 180,
    L = 36,
    B = 22,
    T = 10;
  const svg = s("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "pass rate per run" });
  for (const y of [0, 0.5, 1]) {
    const py = T + (1 - y) * (H - T - B);
    svg.append(
      s("line", { x1: L, x2: W - 6, y1: py, y2: py, stroke: "#dde1e5" }),
      s("text", { x: 4, y: py + 4, "font-size": 10, fill: "#66717d" }, `${y * 100}%`),
    );
  }
  if (points.length === 0) {
    svg.append(s("text", { x: L + 10, y: H / 2, fill: "#66717d" }, "no pass/fail results yet"));
    return svg;
  }
  const x = (i) => L + (points.length === 1 ? 0.5 : i / (points.length - 1)) * (W - L - 16);
  const y = (v) => T + (1 - v) * (H - T - B);
  const avg = points.map((_, i) => {
    const win = points.slice(Math.max(0, i - 6), i + 1);
    return win.reduce((a, p) => a + p.pass, 0) / win.reduce((a, p) => a + p.decisive, 0);
  });
  svg.append(s("polyline", { points: avg.map((v, i) => `${x(i)},${y(v)}`).join(" "), fill: "none", stroke: "#2d5fa8", "stroke-width": 2 }));
  points.forEach((p, i) => {
    const rate = p.pass / p.decisive;
    const dot = s("circle", { cx: x(i), cy: y(rate), r: 3.5, fill: rate === 1 ? "#2e9b4f" : rate === 0 ? "#d63c3c" : "#e39b1b" });
    dot.append(
      s("title", {}, `${p.run.ref || p.run.id.slice(0, 8)} ${when(p.run.createdAt)}: ${Math.round(rate * 100)}% (${p.pass}/${p.decisive})`),
    );
    svg.append(dot);
  });
  svg.append(s("text", { x: L, y: H - 6, "font-size": 10, fill: "#66717d" }, when(points[0].run.createdAt)));
  svg.append(s("text", { x: W - 110, y: H - 6, "font-size": 10, fill: "#66717d" }, when(points[points.length - 1].run.createdAt)));
  return svg;
}

async function main() {
  const suite = params.get("suite");
  const test = params.get("test");
  if (!suite || !test) throw new Error("open this page as test.html?suite=<suite>&test=<test>");
  const q = new URLSearchParams({ runs: params.get("runs") || "100", ...(params.get("board") ? { board: params.get("board") } : {}) });
  const hist = await api(`/api/v1/tests/${encodeURIComponent(suite)}/${encodeURIComponent(test)}/history?${q}`);
  put(
    app,
    h(
      "h1",
      {},
      `${suite} / ${test}`,
      hist.quarantine ? h("span", { class: "flag quarantined", title: hist.quarantine.reason }, "quarantined") : null,
    ),
    hist.quarantine ? h("p", { class: "muted" }, `Quarantined by ${hist.quarantine.createdBy}: ${hist.quarantine.reason}`) : null,
    h("h2", {}, "Pass rate per run"),
    h("p", { class: "muted" }, "Dots: share of boards that passed in each run; line: 7-run moving average."),
    chart(hist.entries),
    h("h2", {}, "Boards"),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["board", "results", "pass rate", "flake score"].map((c) => h("th", {}, c)),
        ),
      ),
      h(
        "tbody",
        {},
        hist.boards.map((b) =>
          h(
            "tr",
            {},
            h(
              "td",
              {},
              h(
                "a",
                { href: `?suite=${encodeURIComponent(suite)}&test=${encodeURIComponent(test)}&board=${encodeURIComponent(b.board)}` },
                b.board,
              ),
            ),
            h("td", {}, String(b.runs)),
            h("td", {}, b.passRate === null ? "—" : `${Math.round(b.passRate * 100)}%`),
            h("td", {}, String(b.flakeScore), b.flakeScore >= 0.3 ? h("span", { class: "flag flaky" }, "flaky") : null),
          ),
        ),
      ),
    ),
    h("h2", {}, "Results"),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["run", "ref", "when", "board", "status", "duration", "tries", "measurements", "message"].map((c) => h("th", {}, c)),
        ),
      ),
      h(
        "tbody",
        {},
        hist.entries.map((e) =>
          h(
            "tr",
            {},
            h("td", {}, runLink(e.run.id)),
            h("td", {}, e.run.ref || "—"),
            h("td", {}, when(e.run.createdAt)),
            h("td", {}, e.board),
            h("td", {}, badge(e.status), e.flaky ? h("span", { class: "flag flaky" }, "flaky") : null),
            h("td", {}, `${(e.durationMs / 1000).toFixed(2)} s`),
            h("td", {}, String(e.tries)),
            h(
              "td",
              {},
              e.measurements
                ? Object.entries(e.measurements)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(" ")
                : "",
            ),
            h("td", {}, e.message || ""),
          ),
        ),
      ),
    ),
  );
  document.body.dataset.ready = "true";
}

main().catch((err) => {
  showError(app, err);
  document.body.dataset.ready = "error";
});
