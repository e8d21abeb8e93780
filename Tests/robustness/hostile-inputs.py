#!/usr/bin/env python3
"""Re-runs issue 12's table of hostile inputs against a live server and prints what happened.

    Tests/robustness/hostile-inputs.py [path/to/gofer]

Starts a server (process scheduler) in a temporary data directory, sends each input, and reports
the answer, how long it took and the server's resident memory before and after. Exits non-zero if
the server died, answered 5xx, or stored something it should have refused. The Docker rows (a task
printing 100 MB, cancel of an endless printer, a restart with 100 running tasks) are tests:
RunawayOutputTests and ManyRunningTasksRecoveryTests.
"""
import json, os, socket, stat, subprocess, sys, tempfile, time, urllib.request, urllib.error

gofer = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/gofer"
data = tempfile.mkdtemp(prefix="gofer-hostile-")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = dict(os.environ, GOFER_LOG_LEVEL="error", GOFER_RATE_LIMIT_AUTH_FAILURES="1000000/1m")
server = subprocess.Popen([gofer, "service", "start", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--scheduler", "process"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
base = f"http://127.0.0.1:{port}"
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/api/health", timeout=1); break
    except Exception:
        time.sleep(0.1)
token = open(os.path.join(data, "admin-token")).read().strip()

def rss_mb():
    with open(f"/proc/{server.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
    return 0.0

def call(method, path, body=None, timeout=120):
    data_ = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data_, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    t = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace"), time.monotonic() - t
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), time.monotonic() - t

def bomb(levels):
    text = 'id: bomb\na0: &a0 ["lol"]\n'
    for i in range(1, levels + 1):
        text += f"a{i}: &a{i} [" + ",".join([f"*a{i-1}"] * 9) + "]\n"
    return text + f"tasks: [{{ id: t, image: x, command: *a{levels} }}]\n"

rows, failed = [], False
def row(name, method, path, body, expect):
    global failed
    before = rss_mb()
    status, text, took = call(method, path, body)
    after = rss_mb()
    alive = server.poll() is None
    message = ""
    try: message = json.loads(text).get("message", "")[:90]
    except Exception: message = text[:90]
    ok = alive and status in expect
    failed |= not ok
    rows.append((name, status, f"{took*1000:.0f} ms", f"{before:.0f} → {after:.0f} MB", "ok" if ok else "FAIL", message))

apply = "/api/namespaces/default/pipelines"
row("YAML alias bomb, 7 levels", "POST", apply, {"config": bomb(7)}, {422})
row("YAML alias bomb, 9 levels", "POST", apply, {"config": bomb(9)}, {422})
row("YAML flow nesting 5,000 deep", "POST", apply, {"config": "id: d\nx: " + "[" * 5000 + "]" * 5000}, {422})
row("TOML arrays nested 30,000 deep", "POST", apply, {"config": 'id = "d"\nx = ' + "[" * 30000 + "]" * 30000, "format": "toml"}, {422})
row("TOML dotted key of 100,000 parts", "POST", apply, {"config": 'id = "d"\n' + ".".join(["a"] * 100000) + " = 1", "format": "toml"}, {422})
row("JSON config nested 10,000 deep", "POST", apply, {"config": '{"id": "d", "x": ' + "[" * 10000 + "]" * 10000 + "}", "format": "json"}, {422})
row("NUL in a namespace id", "POST", "/api/namespaces", {"id": "a\u0000b"}, {400})
row("NUL in a task env value", "POST", apply, {"config": '{"id": "n", "tasks": [{"id": "t", "image": "x", "env": {"A": "a\\u0000b"}}]}', "format": "json"}, {422})
row("wrong method on a known path", "PUT", "/api/namespaces", None, {405})
row("a 3 MB body where 2 MiB is the limit", "POST", "/api/namespaces", {"id": "x" * (3 << 20)}, {413})

status, text, _ = call("GET", "/api/namespaces")
stored = [n["id"] for n in json.loads(text)["items"]]
if stored != ["default"]: failed = True
modes = []
for root, dirs, files in os.walk(data):
    for n in dirs + files:
        m = stat.S_IMODE(os.lstat(os.path.join(root, n)).st_mode)
        if m & 0o077: modes.append((os.path.relpath(os.path.join(root, n), data), oct(m)))
if modes: failed = True

server.terminate(); server.wait(timeout=10)
w = max(len(r[0]) for r in rows)
print(f"{'input':<{w}}  status  time      server RSS        result  message")
for r in rows:
    print(f"{r[0]:<{w}}  {r[1]:<6}  {r[2]:<8}  {r[3]:<16}  {r[4]:<6}  {r[5]}")
print(f"namespaces stored afterwards: {stored}; files readable by others in the data dir: {modes or 'none'}")
print("server stayed up: " + ("yes" if not failed else "see FAIL rows"))
sys.exit(1 if failed else 0)
