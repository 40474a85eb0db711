// Shared helpers for the dashboard pages: API calls, element building (text only, never innerHTML with data),
// navigation and the admin token kept in this browser's localStorage.
/* global document, window */

export const params = new URLSearchParams(window.location.search);

export function token() {
  return localStorage.getItem("hil-token") || "";
}

/** Calls the REST API; throws an Error with the API's own message on 4xx/5xx. */
export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.authorization = `Bearer ${token()}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await res.text();
  const body = text && (res.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : text;
  if (!res.ok) throw new Error(body && body.error ? body.error.message : `${res.status} ${res.statusText}`);
  return body;
}

/** h("a", { href, class }, "text", child) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const badge = (status) => h("span", { class: `badge st-${status}` }, status);

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toISOString().replace("T", " ").slice(0, 16);
}

export function ago(iso) {
  if (!iso) return "never";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 129600) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export const runLink = (id, text) => h("a", { href: `run.html?id=${encodeURIComponent(id)}` }, text || id.slice(0, 8));
export const testLink = (suite, test, text) =>
  h("a", { href: `test.html?suite=${encodeURIComponent(suite)}&test=${encodeURIComponent(test)}` }, text || `${suite}/${test}`);

const PAGES = [
  ["index.html", "Nightly matrix"],
  ["regressions.html", "Regressions & flaky"],
  ["boards.html", "Runners & boards"],
];

/** Renders the header with navigation and the admin token field. */
export function layout(active, title) {
  document.title = `${title} · Tock HIL`;
  const input = h("input", { type: "password", placeholder: "API token (for admin actions)", value: token(), id: "token" });
  const header = h(
    "header",
    {},
    h("span", { class: "brand" }, "Tock HIL"),
    PAGES.map(([href, label]) => h("a", { href, class: href === active ? "active" : "" }, label)),
    h("a", { href: "/docs" }, "API"),
    h(
      "span",
      { class: "token" },
      input,
      h("button", { onclick: () => (localStorage.setItem("hil-token", input.value.trim()), window.location.reload()) }, "Save"),
    ),
  );
  document.body.prepend(header);
  return document.getElementById("app");
}

export function showError(where, err) {
  where.append(h("div", { class: "error-box" }, err instanceof Error ? err.message : String(err)));
}

/** parent.append without the "null" text nodes that optional parts would otherwise become. */
export function put(parent, ...children) {
  parent.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false && c !== ""));
}
