// A run's DAG as an SVG graph: tasks in columns by depth (a task sits one column right of its
// deepest dependency), edges from each dependency. Nodes carry their state as a class, so a state
// change is one class change.
const NS = "http://www.w3.org/2000/svg";
const W = 150, H = 44, GAP_X = 60, GAP_Y = 18, PAD = 16;

function el(name, attrs = {}) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** tasks: [{id, depends_on: {parent: condition}}] in config order. */
export function layout(tasks) {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const parents = Object.keys(byId.get(id)?.depends_on || {}).filter((p) => byId.has(p));
    const d = parents.length ? Math.max(...parents.map(depthOf)) + 1 : 0;
    depth.set(id, d);
    return d;
  };
  const columns = [];
  for (const t of tasks) {
    const d = depthOf(t.id);
    (columns[d] ||= []).push(t.id);
  }
  const position = new Map();
  columns.forEach((ids, c) => ids.forEach((id, r) => position.set(id, { x: PAD + c * (W + GAP_X), y: PAD + r * (H + GAP_Y) })));
  const rows = Math.max(1, ...columns.map((c) => c.length));
  return { position, width: PAD * 2 + columns.length * W + (columns.length - 1) * GAP_X, height: PAD * 2 + rows * H + (rows - 1) * GAP_Y };
}

/** Draws the graph into container; returns a function that sets a task's state. */
export function draw(container, tasks, states) {
  const { position, width, height } = layout(tasks);
  const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "task graph" });
  for (const t of tasks) {
    const to = position.get(t.id);
    for (const parent of Object.keys(t.depends_on || {})) {
      const from = position.get(parent);
      if (!from) continue;
      const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2, mid = (x1 + x2) / 2;
      svg.append(el("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }));
    }
  }
  const nodes = new Map();
  for (const t of tasks) {
    const { x, y } = position.get(t.id);
    const g = el("g", { class: "node", "data-task": t.id, transform: `translate(${x},${y})` });
    g.append(el("rect", { width: W, height: H }));
    const name = el("text", { x: 10, y: 18 });
    name.textContent = t.id.length > 20 ? t.id.slice(0, 19) + "…" : t.id;
    const state = el("text", { x: 10, y: 34, class: "label-state" });
    g.append(name, state);
    svg.append(g);
    nodes.set(t.id, { g, state });
  }
  container.replaceChildren(svg);
  const set = (task, value) => {
    const node = nodes.get(task);
    if (!node) return;
    node.g.setAttribute("class", `node ${value}`);
    node.g.setAttribute("data-state", value);
    node.state.textContent = value;
  };
  for (const [task, value] of Object.entries(states)) set(task, value);
  return set;
}
