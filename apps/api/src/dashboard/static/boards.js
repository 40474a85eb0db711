// Runners and boards: health, current job, last seen, infra error rates, and admin actions.
/* global document, window */
import { ago, api, badge, h, layout, runLink, showError, token, when } from "./common.js";

const app = layout("boards.html", "Runners & boards");

async function setHealth(board, health, note) {
  if (!token()) {
    window.alert("Admin actions need an admin API token: paste it in the header and press Save.");
    return;
  }
  try {
    await api(`/api/v1/boards/${board.id}`, { method: "PATCH", body: { health, message: note } });
    await render();
  } catch (err) {
    showError(app, err);
  }
}

async function render() {
  const [{ runners }, { boards }] = await Promise.all([api("/api/v1/runners"), api("/api/v1/boards/stats")]);
  app.replaceChildren(
    h("h1", {}, "Runners"),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["runner", "state", "host", "version", "last seen", "boards"].map((c) => h("th", {}, c)),
        ),
      ),
      h(
        "tbody",
        {},
        runners.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, r.name),
            h("td", {}, badge(r.online ? "idle" : "offline"), r.online ? " online" : ""),
            h("td", {}, r.hostname || "—"),
            h("td", {}, r.version || "—"),
            h("td", { title: when(r.lastSeenAt) }, ago(r.lastSeenAt)),
            h("td", {}, r.boards.join(", ")),
          ),
        ),
      ),
    ),
    h("h1", { style: "margin-top:1em" }, "Boards"),
    h(
      "table",
      { id: "boards" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [
            "board",
            "type",
            "runner",
            "state",
            "health",
            "current job",
            "last seen",
            "last health check",
            "attempts (30 d)",
            "infra error rate",
            "actions",
          ].map((c) => h("th", {}, c)),
        ),
      ),
      h(
        "tbody",
        {},
        boards.map((b) =>
          h(
            "tr",
            { "data-board": b.name },
            h("td", {}, b.name),
            h("td", {}, b.type),
            h("td", {}, b.runner),
            h("td", {}, badge(b.state)),
            h(
              "td",
              { title: b.healthMessage || "" },
              badge(b.health),
              b.consecutiveInfraErrors > 0 ? ` ${b.consecutiveInfraErrors} errors in a row` : "",
            ),
            h("td", {}, b.currentJob ? [runLink(b.currentJob.runId), ` ${b.currentJob.suite}`] : "—"),
            h("td", { title: when(b.lastSeenAt) }, ago(b.lastSeenAt)),
            h("td", { title: b.healthMessage || "" }, b.healthCheckedAt ? ago(b.healthCheckedAt) : "never"),
            h("td", {}, String(b.attempts)),
            h("td", {}, b.infraErrorRate === null ? "—" : `${Math.round(b.infraErrorRate * 100)}% (${b.infraErrors})`),
            h(
              "td",
              {},
              h("button", { onclick: () => setHealth(b, "maintenance", "maintenance from the dashboard") }, "Maintenance"),
              h("button", { onclick: () => setHealth(b, "unknown", "health check requested from the dashboard") }, "Health check now"),
              h(
                "button",
                { onclick: () => window.confirm(`Retire ${b.name}?`) && setHealth(b, "retired", "retired from the dashboard") },
                "Retire",
              ),
            ),
          ),
        ),
      ),
    ),
  );
  document.body.dataset.ready = "true";
}

render().catch((err) => {
  showError(app, err);
  document.body.dataset.ready = "error";
});
