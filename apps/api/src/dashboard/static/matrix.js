// The nightly matrix: suites/tests x boards over the last nights, one coloured cell per night.
/* global document, window */
import { put, api, h, layout, params, runLink, showError, testLink, when } from "./common.js";

const app = layout("index.html", "Nightly matrix");
const CELL = { P: "pass", p: "pass after a re-run (flaky)", F: "fail", E: "infra error", S: "skipped", N: "not run", ".": "no result" };

async function main() {
  const trigger = params.get("trigger") || "nightly";
  const runs = params.get("runs") || "30";
  const project = params.get("project");
  const q = new URLSearchParams({ trigger, runs, ...(project ? { project } : {}) });
  const m = await api(`/api/v1/matrix?${q}`);
  put(
    app,
    h("h1", {}, trigger === "nightly" ? `Nightly matrix: last ${m.nights.length} nights` : `Matrix: last ${m.nights.length} runs`),
    h(
      "p",
      { class: "legend muted" },
      trigger === "nightly"
        ? h("a", { href: `?trigger=any&runs=${runs}` }, "show all runs")
        : h("a", { href: `?runs=${runs}` }, "show nightly runs only"),
      ["P", "p", "F", "E", "S", "."].map((c) => [h("span", { class: `c-${c === "." ? "dot" : c}` }), CELL[c]]),
      ` · built in ${m.serverMs} ms`,
    ),
  );
  if (m.nights.length === 0) {
    put(app, h("p", {}, "No runs yet. ", trigger === "nightly" ? h("a", { href: "?trigger=any" }, "Show runs of any trigger") : ""));
    return;
  }
  const head = h(
    "tr",
    {},
    h("th", {}, "test"),
    h("th", {}, "board"),
    m.nights.map((n) =>
      h(
        "th",
        { class: "night", title: `${n.ref || ""} ${n.status}` },
        h("a", { href: `run.html?id=${n.id}` }, when(n.createdAt).slice(5, 10)),
      ),
    ),
  );
  const body = [];
  let suite = null;
  for (const row of m.rows) {
    if (row.suite !== suite) {
      suite = row.suite;
      body.push(h("tr", { class: "suite" }, h("th", { colspan: m.nights.length + 2 }, suite)));
    }
    body.push(
      h(
        "tr",
        {},
        h(
          "td",
          {},
          testLink(row.suite, row.test, row.test),
          row.flakeScore >= 0.3
            ? h("span", { class: "flag flaky", title: `flake score ${row.flakeScore}` }, `flaky ${row.flakeScore}`)
            : null,
          row.quarantined ? h("span", { class: "flag quarantined", title: "failures do not fail the run" }, "quarantined") : null,
        ),
        h("td", {}, row.board),
        [...row.cells].map((c, i) => {
          const night = m.nights[i];
          const title = `${row.test} on ${row.board}, ${night.ref || night.id.slice(0, 8)} (${when(night.createdAt)}): ${CELL[c] || c}`;
          return h(
            "td",
            { class: "cell" },
            c === "."
              ? h("a", { class: "c-dot", title })
              : h("a", { class: `c-${c}`, title, href: `run.html?id=${night.id}#${row.suite}/${row.test}` }),
          );
        }),
      ),
    );
  }
  put(app, h("table", { class: "matrix" }, h("thead", {}, head), h("tbody", {}, body)));
  const latest = m.nights[m.nights.length - 1];
  put(app, h("p", { class: "muted" }, "Newest run: ", runLink(latest.id, latest.ref || latest.id.slice(0, 8)), ` (${latest.status})`));
  document.body.dataset.ready = "true";
}

main().catch((err) => {
  showError(app, err);
  window.document.body.dataset.ready = "error";
});
