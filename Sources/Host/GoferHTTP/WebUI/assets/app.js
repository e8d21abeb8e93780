// Gofer's web UI: a small single-page app over the REST API. Its pages are real paths (the server
// answers each with this page, so a link works pasted, bookmarked, or after the login form):
//   /                                          namespaces and pipelines with their last runs
//   /ui/namespaces/NS/pipelines/P              a pipeline: tasks, triggers, common tasks, versions, errors, runs
//   /ui/namespaces/NS/pipelines/P/runs/N       a run: the DAG live, each task's log live, cancel buttons
//   /ui/namespaces/NS/pipelines/P/runs/N/tasks/T[#L12]   that run, at task T's log (line 12 marked)
//   /ui/extensions                             installed extensions and their health
// The links the server sends (commit statuses, alerts, GOFER_RUN_URL) are the run paths above.
// Older fragment links (#/p/NS/P, #/r/NS/P/N, #/extensions) are turned into paths.
import * as api from "./api.js";
import { render as ansi } from "./ansi.js";
import { draw as drawDAG } from "./dag.js";

const main = document.getElementById("main");
const flash = document.getElementById("flash");
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "skipped"]);
let cleanup = [];   // what the current page must stop when another opens (streams, timers)
let pages = new Set(["pipelines"]);   // what the session may open (the server says, at login)

/** Every page's path: the one place the UI spells its URLs. */
const links = {
  home: () => "/",
  extensions: () => "/ui/extensions",
  pipeline: (ns, p) => `/ui/namespaces/${api.seg(ns)}/pipelines/${api.seg(p)}`,
  run: (ns, p, r) => `${links.pipeline(ns, p)}/runs/${r}`,
  task: (ns, p, r, t, line) => `${links.run(ns, p, r)}/tasks/${api.seg(t)}${line ? `#L${line}` : ""}`,
};

/** Opens a page of the UI without reloading it. */
function go(path) {
  history.pushState(null, "", path);
  route();
}

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
/** As precise as is useful (as DurationText.human on the server): <1ms, 340ms, 1.25s, 12.3s, 4m05s, 2h03m. */
const duration = (from, to) => {
  if (!from) return "–";
  const ms = Math.max(0, Math.floor((to ? Date.parse(to) : Date.now()) - Date.parse(from)));
  const two = (n) => String(n).padStart(2, "0");
  if (ms < 1) return "<1ms";
  if (ms < 1000) return `${ms}ms`;
  if (ms < 10000) return `${Math.floor(ms / 1000)}.${two(Math.floor(ms % 1000 / 10))}s`;
  if (ms < 60000) return `${Math.floor(ms / 1000)}.${Math.floor(ms % 1000 / 100)}s`;
  if (ms < 3600000) return `${Math.floor(ms / 60000)}m${two(Math.floor(ms / 1000) % 60)}s`;
  return `${Math.floor(ms / 3600000)}h${two(Math.floor(ms / 60000) % 60)}m`;
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
      route();   // the page that was asked for: the URL did not change while logging in
    } catch (e) { showError(e); }
  });
  main.replaceChildren(form);
  input.focus();
}

function signedIn(s) {
  document.getElementById("who").textContent = s ? `${s.token.name} (${s.token.roles.join(", ")})` : "";
  document.getElementById("logout").hidden = !s;
  pages = new Set((s && s.pages) || ["pipelines"]);
  // A link the session cannot open is not shown (the server refuses it anyway).
  document.getElementById("nav-extensions").hidden = !pages.has("extensions");
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api.logout(); } catch (_) { /* gone already */ }
  signedIn(null);
  history.pushState(null, "", links.home());
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
        h("td", {}, h("a", { href: links.pipeline(ns.id, p.id) }, p.name || p.id)),
        h("td", {}, stateBadge(p.state)),
        h("td", {}, `v${p.live_version}`),
        h("td", {}, h("span", { class: "dots" }, runs.map((r) =>
          h("a", { href: links.run(ns.id, p.id, r.id), title: `run ${r.id}: ${r.state}` }, h("span", { class: `dot ${r.state}` }))))),
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
      go(links.run(ns, p, run.id));
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
        h("td", {}, h("a", { href: links.run(ns, p, r.id) }, `#${r.id}`)), h("td", {}, stateBadge(r.state)),
        h("td", {}, `v${r.pipeline_version}`, r.version_reason === "canary" ? h("span", { class: "tag canary", title: "sent to the canary version by a rollout" }, "canary") : null), h("td", {}, ago(r.started_at || r.created_at)), h("td", {}, duration(r.started_at, r.ended_at)),
        h("td", { class: "muted" }, r.initiator ? (r.initiator.name || r.initiator.kind) : ""))))));
}

async function runPage(ns, p, id, focus) {
  const detail = await api.get(api.runPath(ns, p, id));
  const version = await api.get(`${api.pipelinePath(ns, p)}/versions/${detail.run.pipeline_version}`);
  const configTasks = (version.config && version.config.tasks) || detail.tasks.map((t) => ({ id: t.task }));
  const states = Object.fromEntries(detail.tasks.map((t) => [t.task, t.state]));
  if (focus && !(focus.task in states)) {
    throw Object.assign(new Error(`run ${id} of ${ns}/${p} has no task ${focus.task}`), { status: 404 });
  }
  let run = detail.run;
  const graph = h("div", { class: "dag", id: "dag" });
  const setNode = drawDAG(graph, configTasks, states);
  const runTags = () => [
    run.version_reason === "canary" ? h("span", { class: "tag canary", title: "sent to the canary version by a rollout" }, `canary v${run.pipeline_version}`) : null,
    run.rerun_of ? h("span", { class: "tag" }, "rerun of ", h("a", { href: links.run(ns, p, run.rerun_of) }, `#${run.rerun_of}`)) : null,
  ];
  const title = h("h1", {}, `${p} #${id} `, stateBadge(run.state), ...runTags());
  const cancelRun = h("button", { class: "danger", id: "cancel-run", type: "button", hidden: TERMINAL.has(run.state) }, "Cancel run");
  cancelRun.addEventListener("click", async () => {
    // Cancelling stops every running task: it is asked, not done on a stray click.
    if (!window.confirm(`Cancel run #${id} of ${ns}/${p}? Its running tasks are stopped.`)) return;
    cancelRun.disabled = true;
    try { await api.post(`${api.runPath(ns, p, id)}/cancel`, { reason: "cancelled from the web UI" }); } catch (e) { showError(e); cancelRun.disabled = false; }
  });
  // One log panel per task: it streams once the task has a process, and keeps what it got. Each
  // line has a number; clicking it makes the address a link to that line.
  const panels = new Map();
  const controllers = [];
  cleanup.push(() => controllers.forEach((c) => c.abort()));
  const markLine = (task, n) => {
    for (const old of document.querySelectorAll("pre.log .line.marked")) old.classList.remove("marked");
    const line = document.getElementById(`L-${task}-${n}`);
    if (!line) return false;
    line.classList.add("marked");
    line.scrollIntoView({ block: "center" });
    return true;
  };
  const follow = (task) => {
    const panel = panels.get(task);
    if (!panel || panel.following || !panel.logging) return;
    panel.following = true;
    const controller = new AbortController();
    controllers.push(controller);
    let n = 0;
    api.followLines(`${api.runPath(ns, p, id)}/tasks/${api.seg(task)}/logs?follow=true`, (text) => {
      n += 1;
      const number = n;
      const line = h("span", { class: "line", id: `L-${task}-${number}`, "data-line": number }, ansi(text));
      line.addEventListener("click", () => {
        history.replaceState(null, "", links.task(ns, p, id, task, number));
        markLine(task, number);
      });
      panel.pre.append(line, "\n");
      if (focus && focus.task === task && focus.line === number) markLine(task, number);
      else if (!focus || !focus.line) panel.pre.scrollTop = panel.pre.scrollHeight;
    }, controller.signal).catch((e) => { if (e.name !== "AbortError") panel.pre.append(h("span", { class: "error" }, `[${e.message}]`)); });
  };
  const logSection = h("section", { id: "logs" }, h("h2", {}, "Logs"));
  for (const t of detail.tasks) {
    const pre = h("pre", { class: "log", "data-task": t.task });
    const badge = stateBadge(t.state);
    const cancel = h("button", { class: "danger", type: "button", "data-cancel-task": t.task, hidden: TERMINAL.has(t.state) }, "Cancel");
    cancel.addEventListener("click", async (event) => {
      event.preventDefault();
      if (!window.confirm(`Cancel task ${t.task} of run #${id}?`)) return;
      cancel.disabled = true;
      try { await api.post(`${api.runPath(ns, p, id)}/tasks/${api.seg(t.task)}/cancel`, { reason: "cancelled from the web UI" }); } catch (e) { showError(e); cancel.disabled = false; }
    });
    const reason = h("span", { class: "muted" }, t.reason ? t.reason.message : "");
    const took = h("span", { class: "took", "data-took": t.task });
    const carried = t.carried_from
      ? h("span", { class: "tag", "data-carried": t.task }, "carried over from run ", h("a", { href: links.run(ns, p, t.carried_from) }, `#${t.carried_from}`))
      : null;
    const link = h("a", { href: links.task(ns, p, id, t.task), class: "muted", title: "link to this task's log" }, "#");
    const panel = h("details", { class: "log", open: true, "data-task": t.task, id: `task-${t.task}` },
      h("summary", {}, h("strong", {}, t.task), badge, carried, took, h("span", { class: "grow" }, reason), link, cancel), pre);
    panels.set(t.task, { pre, badge, cancel, reason, took, started: t.started_at, ended: t.ended_at, logging: t.logging !== false, following: false });
    logSection.append(panel);
    if (t.state === "running" || (TERMINAL.has(t.state) && t.started_at)) follow(t.task);
  }
  const since = h("span", { class: "muted", id: "run-since" });
  // What the pipeline's hooks did for this run (a hook with nothing to do says so here).
  const hookSection = h("section", { id: "hooks" });
  const showHooks = async () => {
    let items = [];
    try { items = (await api.get(`${api.runPath(ns, p, id)}/hooks`)).items || []; } catch (_) { return; }
    hookSection.replaceChildren(...(items.length ? [h("h2", {}, "Hooks"), h("table", {}, h("tbody", {}, items.map((d) => h("tr", { "data-hook": `${d.label}/${d.phase}` },
      h("td", {}, h("strong", {}, d.label), " ", h("span", { class: "muted" }, d.extension)), h("td", {}, d.phase.replace("_", " ")), h("td", {}, stateBadge(d.state)),
      h("td", { class: d.last_error ? "error" : "muted" }, d.last_error || d.summary || "")))))] : []));
  };
  main.replaceChildren(title, h("div", { class: "toolbar" }, cancelRun, h("a", { href: links.pipeline(ns, p) }, `${ns}/${p}`), since), graph, logSection, hookSection);
  showHooks();
  if (focus) {
    const panel = document.getElementById(`task-${focus.task}`);
    panel.classList.add("focused");
    if (!focus.line) panel.scrollIntoView({ block: "start" });
  }

  // Times that move: "started 12s ago" and each task's duration, every second while shown.
  const tick = () => {
    const started = run.started_at || run.created_at;
    since.textContent = `version ${run.pipeline_version} · started ${ago(started)}` + (run.ended_at ? ` · took ${duration(run.started_at, run.ended_at)}` : "");
    for (const panel of panels.values()) panel.took.textContent = panel.started ? duration(panel.started, panel.ended) : "";
  };
  tick();
  const timer = setInterval(tick, 1000);
  cleanup.push(() => clearInterval(timer));

  const setTask = (task, state, message, at) => {
    setNode(task, state);
    const panel = panels.get(task);
    if (!panel) return;
    panel.badge.className = `state ${state}`;
    panel.badge.textContent = state;
    panel.badge.setAttribute("data-state", state);
    panel.cancel.hidden = TERMINAL.has(state);
    if (message) panel.reason.textContent = message;
    if (state === "running" && !panel.started) panel.started = at || new Date().toISOString();
    if (TERMINAL.has(state) && panel.started && !panel.ended) panel.ended = at || new Date().toISOString();
    if (state === "running" || TERMINAL.has(state)) follow(task);
  };
  const setRun = (state, at) => {
    run = { ...run, state };
    if (state === "running" && !run.started_at) run.started_at = at;
    if (TERMINAL.has(state) && !run.ended_at) run.ended_at = at || new Date().toISOString();
    title.replaceChildren(`${p} #${id} `, stateBadge(state), ...runTags());
    cancelRun.hidden = TERMINAL.has(state);
    tick();
    // A finished run's hooks are delivered right after: look again then.
    if (TERMINAL.has(state)) for (const ms of [1000, 4000]) { const t = setTimeout(showHooks, ms); cleanup.push(() => clearTimeout(t)); }
  };
  if (TERMINAL.has(run.state)) return;
  const events = new EventSource(`${api.runPath(ns, p, id)}/events`);
  cleanup.push(() => events.close());
  events.addEventListener("snapshot", (e) => {
    const d = JSON.parse(e.data);
    run = { ...run, ...d.run };
    setRun(d.run.state, d.run.ended_at);
    for (const t of d.tasks) {
      const panel = panels.get(t.task);
      if (panel) { panel.started = t.started_at || panel.started; panel.ended = t.ended_at || panel.ended; }
      setTask(t.task, t.state, t.reason && t.reason.message);
    }
    if (TERMINAL.has(d.run.state)) events.close();
  });
  events.addEventListener("task_state_changed", (e) => {
    const ev = JSON.parse(e.data);
    setTask(ev.task, ev.details.state, ev.details.message, ev.at);
  });
  events.addEventListener("run_state_changed", (e) => {
    const ev = JSON.parse(e.data);
    setRun(ev.details.state, ev.at);
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

/** The page a path names, or null: {page, ns, p, run, task, line}. */
function parse(pathname, hash) {
  if (pathname === "/" || pathname === "/ui" || pathname === "/ui/") return { page: "home" };
  const parts = pathname.replace(/^\/ui\//, "").split("/").map(decodeURIComponent);
  if (!pathname.startsWith("/ui/")) return null;
  if (parts.length === 1 && parts[0] === "extensions") return { page: "extensions" };
  if (parts[0] !== "namespaces" || parts[2] !== "pipelines" || parts.length < 4 || !parts[1] || !parts[3]) return null;
  const [ns, p] = [parts[1], parts[3]];
  if (parts.length === 4) return { page: "pipeline", ns, p };
  if (parts[4] !== "runs" || !/^[1-9][0-9]{0,15}$/.test(parts[5] || "")) return null;
  const run = Number(parts[5]);
  if (parts.length === 6) return { page: "run", ns, p, run };
  if (parts.length === 8 && parts[6] === "tasks" && parts[7]) {
    const line = /^#L([1-9][0-9]{0,8})$/.exec(hash || "");
    return { page: "run", ns, p, run, focus: { task: parts[7], line: line ? Number(line[1]) : null } };
  }
  return null;
}

/** An older fragment link (#/p/NS/P, #/r/NS/P/N, #/extensions) as the path it meant, or null. */
function fromFragment(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "p" && parts.length === 3) return links.pipeline(parts[1], parts[2]);
  if (parts[0] === "r" && parts.length === 4) return links.run(parts[1], parts[2], parts[3]);
  if (parts[0] === "extensions") return links.extensions();
  return hash.startsWith("#/") ? links.home() : null;
}

async function route() {
  for (const stop of cleanup) stop();
  cleanup = [];
  clearError();
  const at = parse(location.pathname, location.hash);
  try {
    if (!at) {
      main.replaceChildren(h("h1", {}, "No such page"), h("p", {}, "Nothing lives at this address. ", h("a", { href: links.home() }, "Back to the pipelines"), "."));
      return;
    }
    if (at.page === "pipeline") await pipelinePage(at.ns, at.p);
    else if (at.page === "run") await runPage(at.ns, at.p, at.run, at.focus);
    else if (at.page === "extensions") await extensionsPage();
    else await home();
  } catch (e) {
    if (e.status === 401) { signedIn(null); loginPage(); return; }
    main.replaceChildren(h("p", { class: "muted" }, "Nothing to show."));
    showError(e);
  }
}

// Links inside the UI open their page without a reload; others (new tab, other sites) as usual.
document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !parse(url.pathname, url.hash)) return;
  event.preventDefault();
  if (url.pathname + url.hash !== location.pathname + location.hash) go(url.pathname + url.hash);
});
window.addEventListener("popstate", route);
const legacy = fromFragment(location.hash);
if (legacy) history.replaceState(null, "", legacy);
const s = await api.session();
signedIn(s);
if (s) route(); else loginPage();
