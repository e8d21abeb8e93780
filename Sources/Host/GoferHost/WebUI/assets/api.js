// The API as the page uses it: same origin, the session cookie, and the session's CSRF token on
// every change. Errors become exceptions carrying the server's message.
let csrf = null;

export class APIError extends Error {
  constructor(status, message, details) { super(message); this.status = status; this.details = details || []; }
}

async function failure(response) {
  let message = `HTTP ${response.status}`;
  let details = [];
  try {
    const body = await response.json();
    message = body.message || message;
    details = body.details || [];
  } catch (_) { /* not JSON */ }
  return new APIError(response.status, message, details);
}

export async function request(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-Gofer-CSRF"] = csrf;
  const response = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) throw await failure(response);
  const type = response.headers.get("Content-Type") || "";
  return type.includes("application/json") ? response.json() : response.text();
}

export const get = (path) => request("GET", path);
export const post = (path, body = {}) => request("POST", path, body);

/** The session of this page, if the cookie still holds one. */
export async function session() {
  try {
    const s = await get("/ui/session");
    csrf = s.csrf;
    return s;
  } catch (e) {
    if (e.status === 401 || e.status === 404) return null;
    throw e;
  }
}

export async function login(token) {
  const s = await post("/ui/login", { token });
  csrf = s.csrf;
  return s;
}

export async function logout() {
  await post("/ui/logout");
  csrf = null;
}

/** Path segment, escaped. */
export const seg = (s) => encodeURIComponent(s);
export const pipelinePath = (ns, p) => `/api/namespaces/${seg(ns)}/pipelines/${seg(p)}`;
export const runPath = (ns, p, r) => `${pipelinePath(ns, p)}/runs/${r}`;

/**
 * Follows a stream of text (a task's log): calls onLine for each whole line until the server ends
 * it or the signal aborts it.
 */
export async function followLines(path, onLine, signal) {
  const response = await fetch(path, { credentials: "same-origin", signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
  pending += decoder.decode();
  if (pending) onLine(pending);
}
