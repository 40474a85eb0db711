// A run: live progress, results table, each job's serial logs merged across its boards (live over SSE) with
// the span each verdict was judged on highlighted, and the job's artifacts.
/* global document, window, EventSource, CSS */
import { put, api, badge, h, layout, params, showError, testLink, token, when } from "./common.js";

const app = layout("", "Run");
const id = params.get("id");
const FINAL = ["passed", "failed", "error", "cancelled"];
const PALETTE = ["#7cc4ff", "#ffb86b", "#c3a6ff", "#7ee0b5", "#ff8fa3", "#f1e05a"];

let results = [];
const logViews = new Map(); // jobId -> { box, lines: [{el, role, offset}], attempt }
const jobSuite = new Map(); // suite -> jobId
const jobBadges = new Map(); // jobId -> element holding the job's status badge

function spanOf(result, line) {
  const s = result.logSpan;
  return s && s.role === line.role && line.offset >= s.start && line.offset < s.end;
}

/** Marks every log line inside a result's judged span with the result's status and name. */
function highlight(jobId) {
  const view = logViews.get(jobId);
  if (!view) return;
  const mine = results.filter((r) => jobSuite.get(r.suite) === jobId && r.logSpan && r.attempt === view.attempt);
  const labelled = new Set();
  for (const line of view.lines) {
    const r = mine.find((x) => spanOf(x, line));
    line.el.classList.remove("span-pass", "span-fail", "span-error");
    line.label?.remove();
    line.label = null;
    if (!r) continue;
    line.el.classList.add(`span-${r.status === "pass" ? "pass" : r.status === "fail" ? "fail" : "error"}`);
    line.el.dataset.test = `${r.suite}/${r.test}`;
    if (!labelled.has(r)) {
      labelled.add(r);
      line.label = h("span", { class: "span-label" }, `◀ ${r.test}: ${r.status}`);
      line.el.append(line.label);
    }
  }
}

function selectResult(r) {
  document.querySelectorAll(".log .selected").forEach((el) => el.classList.remove("selected"));
  const lines = [...document.querySelectorAll(`.log .line[data-test="${CSS.escape(`${r.suite}/${r.test}`)}"]`)];
  lines.forEach((el) => el.classList.add("selected"));
  lines[0]?.scrollIntoView({ block: "center" });
}

function follow(job, box, status) {
  const view = { box, lines: [], attempt: 0, colors: new Map() };
  logViews.set(job.id, view);
  let cursor = null;
  let ended = false;
  let t0 = null;
  const open = () => {
    const es = new EventSource(`/api/v1/jobs/${job.id}/logs/tail${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`);
    es.addEventListener("attempt", (e) => {
      const d = JSON.parse(e.data);
      if (d.attempt !== view.attempt) {
        view.attempt = d.attempt;
        view.lines = [];
        box.replaceChildren();
        cursor = null;
        status.textContent = d.attemptId ? `attempt ${d.attempt}: live` : "waiting for boards…";
      }
    });
    es.addEventListener("lines", (e) => {
      const d = JSON.parse(e.data);
      cursor = d.cursor;
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      for (const l of d.lines) {
        const t = new Date(l.t).getTime();
        if (t0 === null) t0 = t;
        if (!view.colors.has(l.board)) view.colors.set(l.board, PALETTE[view.colors.size % PALETTE.length]);
        const el = h(
          "div",
          { class: "line" },
          h("span", { class: "t" }, `+${((t - t0) / 1000).toFixed(3)}s`),
          h("span", { class: "who", style: `color:${view.colors.get(l.board)}` }, l.board),
          l.text,
        );
        box.append(el);
        view.lines.push({ el, role: l.role, offset: l.offset });
      }
      highlight(job.id);
      if (atBottom) box.scrollTop = box.scrollHeight;
    });
    es.addEventListener("end", () => {
      ended = true;
      es.close();
      status.textContent = view.attempt ? `attempt ${view.attempt}: complete (${view.lines.length} lines)` : "no attempt ran";
    });
    // A dropped connection: resume from the last cursor ourselves (EventSource would restart from the top).
    es.onerror = () => {
      es.close();
      if (!ended) window.setTimeout(open, 2000);
    };
  };
  open();
}

async function artifacts(job, where) {
  const { artifacts: list } = await api(`/api/v1/jobs/${job.id}/artifacts`);
  where.replaceChildren(
    list.length === 0
      ? h("span", { class: "muted" }, "no artifacts")
      : h(
          "ul",
          {},
          list.map((a) => h("li", {}, h("a", { href: a.url }, a.name), ` (${a.mediaType}, ${a.size} bytes, attempt ${a.attempt})`)),
        ),
  );
}

function renderResults(table, list) {
  table.replaceChildren(
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["suite", "test", "boards", "status", "duration", "tries", "message"].map((c) => h("th", {}, c)),
      ),
    ),
    h(
      "tbody",
      {},
      list.map((r) =>
        h(
          "tr",
          { class: "result", id: `${r.suite}/${r.test}`, onclick: () => selectResult(r) },
          h("td", {}, r.suite),
          h("td", {}, testLink(r.suite, r.test, r.test)),
          h("td", {}, r.boards.join(", ") || "—"),
          h("td", {}, badge(r.status), r.flaky ? h("span", { class: "flag flaky" }, "flaky") : null),
          h("td", {}, `${(r.durationMs / 1000).toFixed(2)} s`),
          h("td", {}, String(r.tries)),
          h("td", {}, r.message || ""),
        ),
      ),
    ),
  );
}

/**
 * Cancels the run or one job (POST .../cancel, scope trigger or admin) after asking; the server stops running
 * attempts at once and ends unfinished tests not_run, and the next refresh shows it.
 */
async function cancel(what, path, refresh) {
  if (!token()) {
    window.alert("Cancelling needs an API token with the trigger or admin scope: paste it in the header and press Save.");
    return;
  }
  if (!window.confirm(`Cancel ${what}? Running tests stop within seconds and unfinished tests end not_run.`)) return;
  try {
    await api(path, { method: "POST", body: {} });
  } catch (err) {
    showError(app, err);
  }
  await refresh();
}

async function main() {
  if (!id) throw new Error("no run given: open this page as run.html?id=<run id>");
  const run = await api(`/api/v1/runs/${encodeURIComponent(id)}`);
  const statusEl = h("span", {}, badge(run.status));
  // Shown while the run can still be cancelled; `refresh` is defined below and hides them once things are final.
  const cancelRun = h(
    "button",
    { id: "cancel-run", onclick: () => cancel("this run", `/api/v1/runs/${run.id}/cancel`, refreshSafely) },
    "Cancel run",
  );
  const cancelJobs = new Map();
  const waitingFor = new Map(); // jobId -> why it has not started (shown while queued)
  const bar = h("div", { style: "width:0%" });
  const progressText = h("span", { class: "muted" });
  const table = h("table", {});
  put(
    app,
    h("h1", {}, `Run ${run.id.slice(0, 8)} `, statusEl, " ", cancelRun),
    h(
      "p",
      {},
      `project ${run.project} · ${run.trigger} · ref ${run.ref || "—"} · created ${when(run.createdAt)}`,
      " · ",
      h("a", { href: `/api/v1/runs/${run.id}/junit.xml` }, "JUnit XML"),
    ),
    run.message ? h("p", { class: "error-box" }, run.message) : null,
    h("p", {}, h("span", { class: "progress" }, bar), " ", progressText),
    h("h2", {}, "Results"),
    table,
  );
  // A job section: badge, cancel button, merged live log and artifacts. A run opened right after it was created
  // may not have its jobs yet (they are planned in the background): refresh adds them as they appear.
  async function addJob(job) {
    jobSuite.set(job.suite, job.id);
    const box = h("div", { class: "log", id: `log-${job.id}` });
    const status = h("span", { class: "muted" }, "connecting…");
    const jobBadge = h("span", {}, badge(job.status));
    jobBadges.set(job.id, jobBadge);
    const waitingEl = h(
      "p",
      { class: "waiting muted", "data-job": job.id, hidden: !job.waiting },
      job.waiting ? `Waiting: ${job.waiting}` : "",
    );
    waitingFor.set(job.id, waitingEl);
    const cancelJob = h(
      "button",
      {
        class: "cancel-job",
        "data-job": job.id,
        onclick: () => cancel(`the ${job.suite} job`, `/api/v1/jobs/${job.id}/cancel`, refreshSafely),
      },
      "Cancel job",
    );
    cancelJobs.set(job.id, cancelJob);
    const arts = h("div", {});
    put(
      app,
      h("h2", {}, `${job.suite} `, jobBadge, " ", cancelJob, " ", status),
      waitingEl,
      h(
        "p",
        { class: "muted" },
        "Serial logs of every board of the job, merged on the API's receive clock; judged test spans are highlighted.",
      ),
      box,
      h("h2", {}, `${job.suite}: artifacts`),
      arts,
    );
    follow(job, box, status);
    await artifacts(job, arts);
  }
  for (const job of run.jobs) await addJob(job);

  let finalSeen = false;
  let timer;
  let running = null;
  let again = false;
  // One refresh at a time: a cancel asks for one while the poll may be mid-fetch. A request made during a refresh
  // gets one more pass after it, so what the caller waits for includes everything it changed.
  function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await update();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  }
  // The poll goes on after a failed refresh (a network blip), showing the error.
  const schedule = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(refreshSafely, 1500);
  };
  function refreshSafely() {
    return refresh().catch((err) => {
      showError(app, err);
      schedule();
    });
  }
  async function update() {
    window.clearTimeout(timer);
    const [now, res] = await Promise.all([api(`/api/v1/runs/${run.id}`), api(`/api/v1/runs/${run.id}/results`)]);
    results = res.results;
    statusEl.replaceChildren(badge(now.status));
    cancelRun.hidden = FINAL.includes(now.status);
    for (const j of now.jobs) {
      if (!jobBadges.has(j.id)) await addJob(j);
      jobBadges.get(j.id)?.replaceChildren(badge(j.status));
      const button = cancelJobs.get(j.id);
      if (button) button.hidden = FINAL.includes(j.status);
      const waitingEl = waitingFor.get(j.id);
      if (waitingEl) {
        waitingEl.hidden = !j.waiting;
        waitingEl.textContent = j.waiting ? `Waiting: ${j.waiting}` : "";
      }
    }
    const done = now.jobs.filter((j) => FINAL.includes(j.status)).length;
    bar.style.width = `${now.jobs.length ? Math.round((done / now.jobs.length) * 100) : 0}%`;
    progressText.textContent = `${done}/${now.jobs.length} jobs finished · ${results.length} results`;
    renderResults(table, results);
    for (const jobId of logViews.keys()) highlight(jobId);
    if (FINAL.includes(now.status)) {
      if (finalSeen) return;
      finalSeen = true;
      document.body.dataset.ready = "true";
      if (window.location.hash) document.getElementById(decodeURIComponent(window.location.hash.slice(1)))?.classList.add("selected");
      return;
    }
    schedule();
  }
  await refresh();
  document.body.dataset.loaded = "true";
}

main().catch((err) => {
  showError(app, err);
  document.body.dataset.ready = "error";
});
