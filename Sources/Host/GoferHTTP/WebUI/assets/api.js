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

/** Pauses before a read is tried again after the network failed it (no answer at all). */
const readRetryDelaysMs = [300, 1000, 3000];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function request(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-Gofer-CSRF"] = csrf;
  const init = { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) };
  let response;
  for (let attempt = 0; ; attempt++) {
    try {
      response = await fetch(path, init);
      break;
    } catch (e) {
      // fetch rejects only when no answer came (a dropped connection, a restarting server). A
      // read is safe to ask again; a change is not (it may have been done): that error shows.
      if (method !== "GET" || attempt >= readRetryDelaysMs.length) throw e;
      await sleep(readRetryDelaysMs[attempt]);
    }
  }
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
