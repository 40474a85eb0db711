// Regressions (first failing run = suspect commit), flaky tests by flake score, and the quarantine list.
/* global document */
import { put, api, h, layout, params, runLink, showError, testLink, when } from "./common.js";

const app = layout("regressions.html", "Regressions & flaky");
const ref = (r) => (r ? [runLink(r.id, r.ref || r.id.slice(0, 8)), h("span", { class: "muted" }, ` ${when(r.createdAt)}`)] : "—");
const table = (cols, rows) =>
  h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        cols.map((c) => h("th", {}, c)),
      ),
    ),
    h("tbody", {}, rows),
  );

async function main() {
  const trigger = params.get("trigger") || "nightly";
  const [reg, flaky, quarantine] = await Promise.all([
    api(`/api/v1/regressions?trigger=${trigger}`),
    api(`/api/v1/flaky?trigger=${trigger === "nightly" ? "nightly" : "any"}`),
    api("/api/v1/quarantine"),
  ]);
  put(
    app,
    h("h1", {}, "Regressions"),
    h("p", { class: "muted" }, `Over the last ${reg.window} ${trigger === "nightly" ? "nightly " : ""}runs. Flaky series are left out.`),
    reg.regressions.length === 0
      ? h("p", {}, "No regressions.")
      : table(
          ["state", "test", "boards", "first failing (suspect)", "last passing", "fixed in", "failures", "latest message"],
          reg.regressions.map((r) =>
            h(
              "tr",
              {},
              h("td", {}, h("span", { class: `badge st-${r.state === "active" ? "fail" : "pass"}` }, r.state)),
              h("td", {}, testLink(r.suite, r.test)),
              h("td", {}, r.boards.join(", ")),
              h("td", {}, ref(r.firstFailing)),
              h("td", {}, ref(r.lastPassing)),
              h("td", {}, ref(r.fixedIn)),
              h("td", {}, String(r.failures)),
              h("td", {}, r.message || ""),
            ),
          ),
        ),
    h("h2", {}, "Flaky tests"),
    h(
      "p",
      { class: "muted" },
      `Flake score over the last ${flaky.window} runs: pass/fail flips and passes after a re-run per decisive result.`,
    ),
    flaky.flaky.length === 0
      ? h("p", {}, "No flaky tests.")
      : table(
          ["score", "test", "board", "decisive runs", "flips", "passes after re-run", "last", ""],
          flaky.flaky.map((f) =>
            h(
              "tr",
              {},
              h("td", {}, String(f.score)),
              h("td", {}, testLink(f.suite, f.test)),
              h("td", {}, f.board),
              h("td", {}, String(f.runs)),
              h("td", {}, String(f.flips)),
              h("td", {}, String(f.retryPasses)),
              h("td", {}, f.lastStatus),
              h("td", {}, f.quarantined ? h("span", { class: "flag quarantined" }, "quarantined") : ""),
            ),
          ),
        ),
    h("h2", {}, "Quarantine"),
    quarantine.quarantine.length === 0
      ? h("p", {}, "No quarantined tests.")
      : table(
          ["test", "reason", "by", "since", "lapses"],
          quarantine.quarantine.map((q) =>
            h(
              "tr",
              {},
              h("td", {}, testLink(q.suite, q.test)),
              h("td", {}, q.reason),
              h("td", {}, q.createdBy),
              h("td", {}, when(q.createdAt)),
              h("td", {}, when(q.expiresAt)),
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
