// Gofer's web UI: a small single-page app over the REST API. Routes are URL fragments:
//   #/                         namespaces and pipelines with their last runs
//   #/p/NS/PIPELINE            a pipeline: tasks, triggers, common tasks, versions, errors, runs
//   #/r/NS/PIPELINE/RUN        a run: the DAG live, each task's log live, cancel buttons
//   #/extensions               installed extensions and their health
import * as api from "./api.js";
import { render as ansi } from "./ansi.js";
import { draw as drawDAG } from "./dag.js";

const main = document.getElementById("main");
const flash = document.getElementById("flash");
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "skipped"]);
let cleanup = [];   // what the current page must stop when another opens (streams)

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const stateBadge = (s) => h("span", { class: `state ${s}`, "data-state": s }, s);
const ago = (iso) => {
  if (!iso) return "–";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
};
const duration = (from, to) => {
  if (!from) return "–";
  const s = ((to ? Date.parse(to) : Date.now()) - Date.parse(from)) / 1000;
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
};

/** Replaces the page's content (absent parts, null, are left out). */
const show = (...parts) => main.replaceChildren(...parts.filter((x) => x !== null && x !== undefined));

function showError(e) {
  flash.hidden = false;
  const details = (e.details || []).map((d) => `${d.field ? d.field + ": " : ""}${d.message}`);
  flash.replaceChildren(h("strong", {}, e.message || String(e)), ...details.map((d) => h("div", {}, d)));
}
function clearError() { flash.hidden = true; flash.replaceChildren(); }

// ---- Login -------------------------------------------------------------------------------

function loginPage() {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, placeholder: "gofer_…" });
  const form = h("form", { class: "login", id: "login-form" },
    h("h1", {}, "Log in to Gofer"),
    h("label", { for: "token" }, "API token"),
    input,
    h("p", { class: "muted" }, "Your token is exchanged for a session cookie; the page never stores it. Make one with ",
      h("code", {}, "gofer token create NAME --role user"), "."),
    h("button", { class: "primary", type: "submit", id: "login-button" }, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const s = await api.login(input.value);
      input.value = "";
      clearError();
      signedIn(s);
      route();
    } catch (e) { showError(e); }
  });
  main.replaceChildren(form);
  input.focus();
}

function signedIn(s) {
  document.getElementById("who").textContent = s ? `${s.token.name} (${s.token.roles.join(", ")})` : "";
  document.getElementById("logout").hidden = !s;
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api.logout(); } catch (_) { /* gone already */ }
  signedIn(null);
  location.hash = "#/";
  loginPage();
});

// ---- Pages ---------------------------------------------------------------------------------

async function home() {
  const namespaces = (await api.get("/api/namespaces?limit=1000")).items;
  const sections = [];
  for (const ns of namespaces) {
    let pipelines = [];
    try { pipelines = (await api.get(`/api/namespaces/${api.seg(ns.id)}/pipelines?limit=1000`)).items; } catch (e) { if (e.status !== 403) throw e; }
    const rows = await Promise.all(pipelines.map(async (p) => {
      const runs = (await api.get(`${api.pipelinePath(ns.id, p.id)}/runs?limit=5`)).items;
      return h("tr", { "data-pipeline": p.id },
        h("td", {}, h("a", { href: `#/p/${api.seg(ns.id)}/${api.seg(p.id)}` }, p.name || p.id)),
        h("td", {}, stateBadge(p.state)),
        h("td", {}, `v${p.live_version}`),
        h("td", {}, h("span", { class: "dots" }, runs.map((r) =>
          h("a", { href: `#/r/${api.seg(ns.id)}/${api.seg(p.id)}/${r.id}`, title: `run ${r.id}: ${r.state}` }, h("span", { class: `dot ${r.state}` }))))),
        h("td", { class: "muted" }, runs[0] ? ago(runs[0].created_at) : "never"));
    }));
    sections.push(h("section", {},
      h("h2", {}, ns.name || ns.id, " ", h("span", { class: "muted" }, ns.description || "")),
      rows.length ? h("table", {}, h("thead", {}, h("tr", {}, ["Pipeline", "State", "Live", "Last runs", "Last run"].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
        : h("p", { class: "muted" }, "No pipelines. Apply one with ", h("code", {}, "gofer pipeline apply FILE"), ".")));
  }
  main.replaceChildren(h("h1", {}, "Pipelines"), ...sections);
}

async function pipelinePage(ns, p) {
  const [detail, runs, versions] = await Promise.all([
    api.get(api.pipelinePath(ns, p)),
    api.get(`${api.pipelinePath(ns, p)}/runs?limit=20`),
    api.get(`${api.pipelinePath(ns, p)}/versions`).catch(() => ({ items: [] })),
  ]);
  const config = detail.config || {};
  const start = h("button", { class: "primary", id: "start-run", type: "button" }, "Start run");
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const run = await api.post(`${api.pipelinePath(ns, p)}/runs`, {});
      location.hash = `#/r/${api.seg(ns)}/${api.seg(p)}/${run.id}`;
    } catch (e) { showError(e); start.disabled = false; }
  });
  const tasks = (config.tasks || []).map((t) => h("tr", {},
    h("td", {}, t.id), h("td", {}, t.extension ? `common task: ${t.extension}` : t.image),
    h("td", {}, Object.entries(t.depends_on || {}).map(([k, v]) => `${k} (${v})`).join(", ") || "–"),
    h("td", { class: "muted" }, t.description || "")));
  const triggers = (config.triggers || []).map((t) => h("li", {}, h("strong", {}, t.label), ` — ${t.trigger} `, h("code", {}, JSON.stringify(t.settings || {}))));
  const hooks = (config.hooks || []).map((t) => h("li", {}, h("strong", {}, t.label), ` — ${t.extension} `, h("code", {}, JSON.stringify(t.settings || {}))));
  const errors = (detail.errors || []).map((e) => h("li", { class: "error" }, `${e.source || e.kind}: ${e.message}`));
  show(
    h("h1", {}, detail.pipeline.name || p, " ", stateBadge(detail.pipeline.state)),
    h("div", { class: "toolbar" }, start, h("span", { class: "muted" }, `${ns}/${p} · live version ${detail.pipeline.live_version}`)),
    errors.length ? h("section", {}, h("h2", {}, "Errors"), h("ul", {}, errors)) : null,
    h("div", { class: "grid" },
      h("section", {}, h("h2", {}, "Tasks"), h("table", { id: "tasks" }, h("thead", {}, h("tr", {}, ["Task", "Image", "Depends on", ""].map((t) => h("th", {}, t)))), h("tbody", {}, tasks))),
      h("section", {},
        h("h2", {}, "Triggers"), triggers.length ? h("ul", {}, triggers) : h("p", { class: "muted" }, "None: runs start from the API, the CLI or here."),
        h("h2", {}, "Common tasks"), hooks.length ? h("ul", {}, hooks) : h("p", { class: "muted" }, "None."),
        h("h2", {}, "Versions"), h("table", {}, h("tbody", {}, (versions.items || []).slice(0, 10).map((v) => h("tr", {},
          h("td", {}, `v${v.version}`), h("td", {}, v.status), h("td", { class: "muted" }, ago(v.created_at)), h("td", { class: "muted" }, (v.changes || []).slice(0, 3).join("; ")))))))),
    h("h2", {}, "Runs"),
    h("table", { id: "runs" }, h("thead", {}, h("tr", {}, ["Run", "State", "Version", "Started", "Took", "By"].map((t) => h("th", {}, t)))),
      h("tbody", {}, runs.items.map((r) => h("tr", {},
        h("td", {}, h("a", { href: `#/r/${api.seg(ns)}/${api.seg(p)}/${r.id}` }, `#${r.id}`)), h("td", {}, stateBadge(r.state)),
        h("td", {}, `v${r.pipeline_version}`), h("td", {}, ago(r.started_at || r.created_at)), h("td", {}, duration(r.started_at, r.ended_at)),
        h("td", { class: "muted" }, r.initiator ? (r.initiator.name || r.initiator.kind) : ""))))));
}

async function runPage(ns, p, id) {
  const detail = await api.get(api.runPath(ns, p, id));
  const version = await api.get(`${api.pipelinePath(ns, p)}/versions/${detail.run.pipeline_version}`);
  const configTasks = (version.config && version.config.tasks) || detail.tasks.map((t) => ({ id: t.task }));
  const states = Object.fromEntries(detail.tasks.map((t) => [t.task, t.state]));
  let run = detail.run;
  const graph = h("div", { class: "dag", id: "dag" });
  const setNode = drawDAG(graph, configTasks, states);
  const title = h("h1", {}, `${p} #${id} `, stateBadge(run.state));
  const cancelRun = h("button", { class: "danger", id: "cancel-run", type: "button", hidden: TERMINAL.has(run.state) }, "Cancel run");
  cancelRun.addEventListener("click", async () => {
    cancelRun.disabled = true;
    try { await api.post(`${api.runPath(ns, p, id)}/cancel`, { reason: "cancelled from the web UI" }); } catch (e) { showError(e); cancelRun.disabled = false; }
  });
  // One log panel per task: it streams once the task has a process, and keeps what it got.
  const panels = new Map();
  const controllers = [];
  cleanup.push(() => controllers.forEach((c) => c.abort()));
  const follow = (task) => {
    const panel = panels.get(task);
    if (!panel || panel.following || !panel.logging) return;
    panel.following = true;
    const controller = new AbortController();
    controllers.push(controller);
    api.followLines(`${api.runPath(ns, p, id)}/tasks/${api.seg(task)}/logs?follow=true`, (line) => {
      panel.pre.append(ansi(line), "\n");
      panel.pre.scrollTop = panel.pre.scrollHeight;
    }, controller.signal).catch((e) => { if (e.name !== "AbortError") panel.pre.append(h("span", { class: "error" }, `[${e.message}]`)); });
  };
  const logSection = h("section", { id: "logs" }, h("h2", {}, "Logs"));
  for (const t of detail.tasks) {
    const pre = h("pre", { class: "log", "data-task": t.task });
    const badge = stateBadge(t.state);
    const cancel = h("button", { class: "danger", type: "button", "data-cancel-task": t.task, hidden: TERMINAL.has(t.state) }, "Cancel");
    cancel.addEventListener("click", async (event) => {
      event.preventDefault();
      cancel.disabled = true;
      try { await api.post(`${api.runPath(ns, p, id)}/tasks/${api.seg(t.task)}/cancel`, { reason: "cancelled from the web UI" }); } catch (e) { showError(e); cancel.disabled = false; }
    });
    const reason = h("span", { class: "muted" }, t.reason ? t.reason.message : "");
    const panel = h("details", { class: "log", open: true, "data-task": t.task },
      h("summary", {}, h("strong", {}, t.task), badge, h("span", { class: "grow" }, reason), cancel), pre);
    panels.set(t.task, { pre, badge, cancel, reason, logging: t.logging !== false, following: false });
    logSection.append(panel);
    if (t.state === "running" || (TERMINAL.has(t.state) && t.started_at)) follow(t.task);
  }
  main.replaceChildren(title, h("div", { class: "toolbar" }, cancelRun, h("a", { href: `#/p/${api.seg(ns)}/${api.seg(p)}` }, `${ns}/${p}`),
    h("span", { class: "muted" }, `version ${run.pipeline_version} · started ${ago(run.started_at || run.created_at)}`)), graph, logSection);

  const setTask = (task, state, message) => {
    setNode(task, state);
    const panel = panels.get(task);
    if (!panel) return;
    panel.badge.className = `state ${state}`;
    panel.badge.textContent = state;
    panel.badge.setAttribute("data-state", state);
    panel.cancel.hidden = TERMINAL.has(state);
    if (message) panel.reason.textContent = message;
    if (state === "running" || TERMINAL.has(state)) follow(task);
  };
  const setRun = (state) => {
    title.replaceChildren(`${p} #${id} `, stateBadge(state));
    cancelRun.hidden = TERMINAL.has(state);
  };
  if (TERMINAL.has(run.state)) return;
  const events = new EventSource(`${api.runPath(ns, p, id)}/events`);
  cleanup.push(() => events.close());
  events.addEventListener("snapshot", (e) => {
    const d = JSON.parse(e.data);
    setRun(d.run.state);
    for (const t of d.tasks) setTask(t.task, t.state, t.reason && t.reason.message);
    if (TERMINAL.has(d.run.state)) events.close();
  });
  events.addEventListener("task_state_changed", (e) => {
    const ev = JSON.parse(e.data);
    setTask(ev.task, ev.details.state, ev.details.message);
  });
  events.addEventListener("run_state_changed", (e) => {
    const ev = JSON.parse(e.data);
    setRun(ev.details.state);
    if (TERMINAL.has(ev.details.state)) events.close();
  });
}

async function extensionsPage() {
  const list = (await api.get("/api/extensions")).items;
  main.replaceChildren(h("h1", {}, "Extensions"),
    h("table", { id: "extensions" }, h("thead", {}, h("tr", {}, ["Name", "Kind", "Version", "Status", "Health", "Restarts", "From"].map((t) => h("th", {}, t)))),
      h("tbody", {}, list.map((x) => h("tr", { "data-extension": x.name },
        h("td", {}, h("strong", {}, x.name)), h("td", {}, x.kind), h("td", {}, x.version), h("td", {}, x.status),
        h("td", {}, x.health || "–"), h("td", {}, String(x.restarts)), h("td", { class: "muted" }, x.registry))))));
}

// ---- Router --------------------------------------------------------------------------------

async function route() {
  for (const stop of cleanup) stop();
  cleanup = [];
  clearError();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "p" && parts.length === 3) await pipelinePage(parts[1], parts[2]);
    else if (parts[0] === "r" && parts.length === 4) await runPage(parts[1], parts[2], Number(parts[3]));
    else if (parts[0] === "extensions") await extensionsPage();
    else await home();
  } catch (e) {
    if (e.status === 401) { signedIn(null); loginPage(); return; }
    main.replaceChildren(h("p", { class: "muted" }, "Nothing to show."));
    showError(e);
  }
}

window.addEventListener("hashchange", route);
const s = await api.session();
signedIn(s);
if (s) route(); else loginPage();
