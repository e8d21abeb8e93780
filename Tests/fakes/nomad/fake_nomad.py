#!/usr/bin/env python3
"""A FAKE Nomad: the slice of the Nomad HTTP API v1 that Gofer's Nomad scheduler uses, for tests.

Nomad cannot run on the CI machine (no package; its licence), so this stands in for one agent
that is both server and client, with one node. It is built from the public API documentation
(hashicorp/nomad website/content/api-docs: index.mdx for blocking queries, ACL headers and
status codes; jobs.mdx for register/read/list/deregister and their sample payloads and answers;
allocations.mdx and evaluations.mdx for allocation, task-state, event and evaluation shapes;
client.mdx for /v1/client/fs/logs and its frames) and, where the documentation is silent, from
Nomad's own behaviour in its source (nomad/job_endpoint.go: "Enforcing job modify index 0: job
already exists" as a 500 with a text body; client/fs_endpoint.go: a frame's Offset is the
offset in its file after its Data; structs: the minimum MemoryMB of 10).

What it does NOT do: isolate anything. A docker task's command runs as a local process (its
`image` must be one of --images, else the task fails with a "Driver Failure" event as a pull
failure would); its env is set; its stdout and stderr go to alloc/logs/task.{stdout,stderr}.0.

Fake-only controls (not Nomad API; under /fake/):
  PUT /fake/faults {"cutLogStreamsAfterFrames": N}  every later logs answer drops its connection
                                                    after N whole frames, in the middle of the next
  PUT /fake/node/lose                               the node goes down: running allocations are
                                                    killed and marked lost
  GET /fake/requests                                 every request seen (method, path, query, body)

Usage: fake_nomad.py --port-file F [--port 0] [--acl-token T] [--tls-cert C --tls-key K]
                     [--datacenter dc1] [--node-pool default] [--node-meta k=v ...]
                     [--images busybox:latest,busybox] [--memory-mb 8192] [--data-dir D]
"""

import argparse
import base64
import json
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

STREAM_FRAME_SIZE = 64 * 1024  # client/fs_endpoint.go streamFrameSize
MIN_MEMORY_MB = 10  # structs.go: minimum MemoryMB


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def parse_wait(text):
    """Blocking-query wait: "10s", "5m", "100ms"; default 5m, capped at 10m (index.mdx)."""
    if not text:
        return 300.0
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2)
    seconds = {"ms": n / 1000, "s": n, "m": n * 60, "h": n * 3600}[unit]
    return min(seconds, 600.0)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Condition()
        self.index = 1
        self.jobs = {}  # (ns, id) -> job record
        self.allocs = {}  # alloc id -> alloc record
        self.evals = {}  # eval id -> eval
        self.requests = []
        self.cut_logs_after_frames = None
        self.node_id = str(uuid.uuid4())
        self.node_down = False
        self.data_dir = args.data_dir or tempfile.mkdtemp(prefix="fake-nomad-")
        self.node_meta = dict(kv.split("=", 1) for kv in args.node_meta)

    def bump(self):
        """A write: the state index moves on and every blocking query wakes."""
        self.index += 1
        self.lock.notify_all()
        return self.index

    # --- placement (a one-node scheduler) ---

    def node_attribute(self, target):
        m = re.fullmatch(r"\$\{(.+)\}", target or "")
        if not m:
            return target
        key = m.group(1)
        attrs = {
            "attr.kernel.name": "linux",
            "attr.driver.docker": "1",
            "node.datacenter": self.args.datacenter,
            "node.unique.name": "fake-nomad-node",
            "node.unique.id": self.node_id,
            "node.class": "",
            "node.pool": self.args.node_pool,
        }
        if key.startswith("meta."):
            return self.node_meta.get(key[5:])
        return attrs.get(key)

    def constraint_holds(self, c):
        left = self.node_attribute(c.get("LTarget", ""))
        right = c.get("RTarget", "")
        op = c.get("Operand", "=")
        if op in ("=", "==", "is"):
            return left == right
        if op in ("!=", "not"):
            return left != right
        if op == "regexp":
            return left is not None and re.search(right, left) is not None
        if op == "is_set":
            return left is not None
        if op == "is_not_set":
            return left is None
        if op == "set_contains":
            return left is not None and all(x.strip() in left.split(",") for x in right.split(","))
        return True  # distinct_hosts etc. hold on one node

    def placement_metrics(self, job, group, task):
        """None if the node can take the group, else the AllocMetric of FailedTGAllocs."""
        dcs = job.get("Datacenters") or ["*"]
        in_dc = any(d == "*" or d == self.args.datacenter or (d.endswith("*") and self.args.datacenter.startswith(d[:-1])) for d in dcs)
        pool = job.get("NodePool") or "default"
        metric = {
            "NodesEvaluated": 0, "NodesFiltered": 0, "NodesAvailable": {d: 0 for d in dcs}, "ClassFiltered": None,
            "ConstraintFiltered": None, "NodesExhausted": 0, "ClassExhausted": None, "DimensionExhausted": None,
            "QuotaExhausted": None, "Scores": None, "AllocationTime": 1000, "CoalescedFailures": 0,
        }
        if self.node_down or not in_dc or pool not in ("all", self.args.node_pool):
            return metric
        metric["NodesAvailable"] = {d: 1 for d in dcs if d == "*" or d == self.args.datacenter}
        metric["NodesEvaluated"] = 1
        for c in (job.get("Constraints") or []) + (group.get("Constraints") or []) + (task.get("Constraints") or []):
            if not self.constraint_holds(c):
                metric["NodesFiltered"] = 1
                metric["ConstraintFiltered"] = {"%s %s %s" % (c.get("LTarget"), c.get("Operand"), c.get("RTarget")): 1}
                return metric
        memory = (task.get("Resources") or {}).get("MemoryMB") or 300
        if memory > self.args.memory_mb:
            metric["NodesExhausted"] = 1
            metric["DimensionExhausted"] = {"memory": 1}
            return metric
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-nomad"

    def log_message(self, *a):
        pass

    # --- plumbing ---

    @property
    def st(self):
        return self.server.state

    def text(self, status, body):
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def json(self, status, value, index=None):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if index is not None:
            self.send_header("X-Nomad-Index", str(index))
            self.send_header("X-Nomad-KnownLeader", "true")
            self.send_header("X-Nomad-LastContact", "0")
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        token = self.st.args.acl_token
        if not token:
            return True
        given = self.headers.get("X-Nomad-Token")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = given or auth[7:]
        return given == token

    def route(self, method):
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.st.lock:
            self.st.requests.append({"method": method, "path": url.path, "query": q, "body": body.decode("utf-8", "replace")})
        path = url.path
        if path.startswith("/fake/"):
            return self.fake_control(method, path, body)
        if path == "/v1/status/leader" and method == "GET":
            return self.json(200, "127.0.0.1:4647")
        if not self.authorized():
            # ACL errors are plain text, 403 (index.mdx: 403 marks the client isn't authenticated).
            return self.text(403, "Permission denied")
        if q.get("region") not in (None, "", "global"):
            return self.text(500, 'No path to region "%s"' % q["region"])
        ns = q.get("namespace") or "default"
        if path == "/v1/jobs" and method in ("PUT", "POST"):
            return self.register(ns, body)
        if path == "/v1/jobs" and method == "GET":
            return self.list_jobs(ns, q)
        m = re.fullmatch(r"/v1/job/([^/]+)(/allocations|/evaluations)?", path)
        if m:
            job_id, sub = unquote(m.group(1)), m.group(2)
            if method == "DELETE" and not sub:
                return self.deregister(ns, job_id, q.get("purge") == "true")
            if method == "GET" and not sub:
                return self.read_job(ns, job_id, q)
            if method == "GET" and sub == "/allocations":
                return self.job_allocations(ns, job_id, q)
            if method == "GET" and sub == "/evaluations":
                return self.job_evaluations(ns, job_id)
        m = re.fullmatch(r"/v1/client/fs/logs/([^/]+)", path)
        if m and method == "GET":
            return self.logs(m.group(1), q)
        return self.text(404, "Invalid URL path")

    def do_GET(self):
        self.route("GET")

    def do_PUT(self):
        self.route("PUT")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    # --- blocking queries (index.mdx) ---

    def block(self, q, current_index):
        """Waits while the resource's index is still <= the asked index, up to `wait` (+ wait/16)."""
        if "index" not in q:
            return True
        try:
            asked = int(q["index"])
        except ValueError:
            self.text(400, "Invalid index value")
            return False
        wait = parse_wait(q.get("wait"))
        if wait is None:
            self.text(400, "Invalid wait time")
            return False
        deadline = time.monotonic() + wait + random.uniform(0, wait / 16)
        while current_index() <= asked:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.st.lock.wait(remaining)
        return True

    # --- jobs ---

    def register(self, ns, body):
        try:
            payload = json.loads(body)
        except ValueError as e:
            return self.text(400, "Request decode failed: %s" % e)
        job = payload.get("Job") if isinstance(payload, dict) else None
        if not isinstance(job, dict):
            return self.text(400, "Job must be specified")
        errors = []
        job_id = job.get("ID") or ""
        if not job_id:
            errors.append("Missing job ID")
        if job.get("Type") not in ("batch", "service", "system", "sysbatch"):
            errors.append('Invalid job type: "%s"' % job.get("Type"))
        groups = job.get("TaskGroups") or []
        if len(groups) != 1 or len(groups[0].get("Tasks") or []) != 1:
            errors.append("this fake runs exactly one group with one task")
        else:
            task = groups[0]["Tasks"][0]
            if task.get("Driver") != "docker":
                errors.append('Task %s: this fake only has the "docker" driver' % task.get("Name"))
            config = task.get("Config") or {}
            if not config.get("image"):
                errors.append('Task %s validation failed: 1 error occurred:\n\t* image is required' % task.get("Name"))
            mem = (task.get("Resources") or {}).get("MemoryMB")
            if mem is not None and mem < MIN_MEMORY_MB:
                errors.append(
                    "Task group %s validation failed: 1 error occurred:\n\t* Task %s validation failed: 1 error occurred:\n\t* minimum MemoryMB value is %d; got %d"
                    % (groups[0].get("Name"), task.get("Name"), MIN_MEMORY_MB, mem))
        if errors:
            # Validation errors come back as a 500 with a plain-text multierror, as Nomad sends them.
            text = "%d error%s occurred:\n%s\n" % (len(errors), "" if len(errors) == 1 else "s", "".join("\t* %s\n" % e for e in errors))
            return self.text(500, text.rstrip("\n"))
        with self.st.lock:
            existing = self.st.jobs.get((ns, job_id))
            if payload.get("EnforceIndex"):
                jmi = payload.get("JobModifyIndex") or 0
                if existing and jmi == 0:
                    return self.text(500, "Enforcing job modify index 0: job already exists")
                if existing and jmi != existing["JobModifyIndex"]:
                    return self.text(500, "Enforcing job modify index %d: job exists with conflicting job modify index: %d" % (jmi, existing["JobModifyIndex"]))
                if not existing and jmi != 0:
                    return self.text(500, "Enforcing job modify index %d: job does not exist" % jmi)
            index = self.st.bump()
            job = dict(job, Namespace=ns, Status="pending", Stop=False, CreateIndex=index, ModifyIndex=index, JobModifyIndex=index,
                       SubmitTime=int(time.time() * 1e9))
            self.st.jobs[(ns, job_id)] = job
            eval_id = self.evaluate(ns, job, "job-register")
            self.json(200, {"EvalID": eval_id, "EvalCreateIndex": index, "JobModifyIndex": index, "Warnings": "", "Index": index,
                            "LastContact": 0, "KnownLeader": False})

    def evaluate(self, ns, job, trigger):
        """Schedules the job on the one node, or leaves a blocked evaluation saying why not."""
        group = job["TaskGroups"][0]
        task = group["Tasks"][0]
        index = self.st.bump()
        ev = {"ID": str(uuid.uuid4()), "Namespace": ns, "Priority": job.get("Priority", 50), "Type": job["Type"], "TriggeredBy": trigger,
              "JobID": job["ID"], "JobModifyIndex": job["JobModifyIndex"], "Status": "complete", "StatusDescription": "",
              "FailedTGAllocs": None, "BlockedEval": "", "QueuedAllocations": {group["Name"]: 0}, "CreateIndex": index, "ModifyIndex": index}
        self.st.evals[ev["ID"]] = ev
        metric = self.st.placement_metrics(job, group, task)
        if metric is not None:
            blocked = dict(ev, ID=str(uuid.uuid4()), Status="blocked", StatusDescription="created to place remaining allocations",
                           TriggeredBy="queued-allocs", PreviousEval=ev["ID"], CreateIndex=index + 1, ModifyIndex=index + 1)
            ev["FailedTGAllocs"] = {group["Name"]: metric}
            ev["BlockedEval"] = blocked["ID"]
            ev["QueuedAllocations"] = {group["Name"]: 1}
            self.st.evals[blocked["ID"]] = blocked
            self.st.bump()
            return ev["ID"]
        alloc_id = str(uuid.uuid4())
        index = self.st.bump()
        alloc = {
            "ID": alloc_id, "EvalID": ev["ID"], "Name": "%s.%s[0]" % (job["ID"], group["Name"]), "Namespace": ns, "NodeID": self.st.node_id,
            "NodeName": "fake-nomad-node", "JobID": job["ID"], "JobVersion": 0, "TaskGroup": group["Name"], "DesiredStatus": "run",
            "DesiredDescription": "", "ClientStatus": "pending", "ClientDescription": "",
            "TaskStates": {task["Name"]: {"State": "pending", "Failed": False, "StartedAt": None, "FinishedAt": None, "LastRestart": None,
                                          "Restarts": 0, "Events": [self.event("Received", "Task received by client")]}},
            "CreateIndex": index, "ModifyIndex": index, "AllocModifyIndex": index, "CreateTime": int(time.time() * 1e9), "ModifyTime": int(time.time() * 1e9),
            "_job": (ns, job["ID"]), "_task": task, "_proc": None, "_dir": os.path.join(self.st.data_dir, alloc_id),
        }
        self.st.allocs[alloc_id] = alloc
        job["Status"] = "running"
        threading.Thread(target=run_alloc, args=(self.st, alloc), daemon=True).start()
        return ev["ID"]

    @staticmethod
    def event(kind, display, **extra):
        e = {"Type": kind, "Time": int(time.time() * 1e9), "DisplayMessage": display, "Details": {}, "FailsTask": False, "ExitCode": 0,
             "Signal": 0, "Message": "", "DriverError": "", "KillTimeout": 0, "KillReason": "", "SetupError": ""}
        e.update(extra)
        return e

    def public_job(self, job):
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def read_job(self, ns, job_id, q):
        def current():
            j = self.st.jobs.get((ns, job_id))
            return j["ModifyIndex"] if j else self.st.index
        with self.st.lock:
            if not self.block(q, current):
                return
            job = self.st.jobs.get((ns, job_id))
            if not job:
                return self.text(404, "job not found")
            self.json(200, self.public_job(job), index=job["ModifyIndex"])

    def list_jobs(self, ns, q):
        with self.st.lock:
            out = []
            for (jns, jid), job in sorted(self.st.jobs.items()):
                if (jns != ns and ns != "*") or not jid.startswith(q.get("prefix", "")):
                    continue
                stub = {"ID": jid, "ParentID": "", "Name": job.get("Name", jid), "Namespace": jns, "Type": job["Type"], "Priority": 50,
                        "Status": job["Status"], "StatusDescription": "", "Stop": job["Stop"], "CreateIndex": job["CreateIndex"],
                        "ModifyIndex": job["ModifyIndex"], "JobModifyIndex": job["JobModifyIndex"], "Datacenters": job.get("Datacenters")}
                if q.get("meta") == "true":
                    stub["Meta"] = job.get("Meta")
                out.append(stub)
            per_page = int(q.get("per_page") or 0)
            if per_page > 0:
                out = out[:per_page]
            self.json(200, out, index=self.st.index)

    def job_allocations(self, ns, job_id, q):
        def current():
            idx = [a["ModifyIndex"] for a in self.st.allocs.values() if a["_job"] == (ns, job_id)]
            j = self.st.jobs.get((ns, job_id))
            return max(idx + [j["CreateIndex"] if j else 1])
        with self.st.lock:
            if not self.block(q, current):
                return
            allocs = [self.alloc_stub(a) for a in self.st.allocs.values() if a["_job"] == (ns, job_id)]
            # Nomad answers an unknown job's allocations with an empty list, not a 404.
            self.json(200, sorted(allocs, key=lambda a: a["CreateIndex"]), index=current())

    def alloc_stub(self, a):
        return {k: v for k, v in a.items() if not k.startswith("_")}

    def job_evaluations(self, ns, job_id):
        with self.st.lock:
            evals = [e for e in self.st.evals.values() if e["JobID"] == job_id and e["Namespace"] == ns]
            self.json(200, sorted(evals, key=lambda e: e["CreateIndex"]), index=self.st.index)

    def deregister(self, ns, job_id, purge):
        with self.st.lock:
            job = self.st.jobs.get((ns, job_id))
            if not job:
                return self.text(404, "job not found")
            index = self.st.bump()
            job["Stop"] = True
            job["ModifyIndex"] = index
            allocs = [a for a in self.st.allocs.values() if a["_job"] == (ns, job_id)]
            for a in allocs:
                if a["DesiredStatus"] == "run":
                    a["DesiredStatus"] = "stop"
                    a["DesiredDescription"] = "alloc is being stopped"
                    kill_alloc(self.st, a, "job deregistered")
            for e in self.st.evals.values():
                if e["JobID"] == job_id and e["Status"] == "blocked":
                    e["Status"] = "cancelled"
            if purge:
                del self.st.jobs[(ns, job_id)]
                for a in allocs:
                    a["_purged"] = True
                    if a.get("_proc") is None:
                        self.st.allocs.pop(a["ID"], None)
                for eid in [e["ID"] for e in self.st.evals.values() if e["JobID"] == job_id]:
                    del self.st.evals[eid]
            else:
                job["Status"] = "dead" if all(x["ClientStatus"] in ("complete", "failed", "lost") for x in allocs) else job["Status"]
            self.st.bump()
            self.json(200, {"EvalID": str(uuid.uuid4()), "EvalCreateIndex": index, "JobModifyIndex": job["JobModifyIndex"], "Index": index,
                            "LastContact": 0, "KnownLeader": True})

    # --- logs (client.mdx: Stream Logs) ---

    def logs(self, alloc_id, q):
        with self.st.lock:
            alloc = self.st.allocs.get(alloc_id)
            if not alloc:
                return self.text(404, "Unknown allocation \"%s\"" % alloc_id)
            task = q.get("task")
            if task != alloc["_task"]["Name"]:
                return self.text(400, "must provide task name" if not task else "unknown task name \"%s\"" % task)
            kind = q.get("type")
            if kind not in ("stdout", "stderr"):
                return self.text(400, "must provide log type (stdout, stderr)")
            cut_after = self.st.cut_logs_after_frames
        follow = q.get("follow") == "true"
        plain = q.get("plain") == "true"
        try:
            offset = int(q.get("offset") or 0)
        except ValueError:
            return self.text(400, "Failed to parse offset")
        origin = q.get("origin") or "start"
        if origin not in ("start", "end"):
            return self.text(400, 'Origin must be "start" or "end"')
        path = os.path.join(alloc["_dir"], "alloc", "logs", "%s.%s.0" % (task, kind))
        name = "alloc/logs/%s.%s.0" % (task, kind)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if plain else "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        frames = [0]

        def chunk(data, is_frame=True):
            if cut_after is not None and is_frame and frames[0] >= cut_after:
                # Fault: the connection drops in the middle of a frame, without the last chunk.
                part = data[: max(1, len(data) // 2)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                self.close_connection = True
                raise ConnectionAbortedError("fake: cut")
            frames[0] += 1 if is_frame else 0
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            if origin == "end":
                offset = max(0, (os.path.getsize(path) if os.path.exists(path) else 0) - offset)
            last_beat = time.monotonic()
            while True:
                size = os.path.getsize(path) if os.path.exists(path) else 0
                if size > offset:
                    with open(path, "rb") as f:
                        f.seek(offset)
                        data = f.read(min(STREAM_FRAME_SIZE, size - offset))
                    offset += len(data)
                    if plain:
                        chunk(data)
                    else:
                        chunk(json.dumps({"File": name, "Offset": offset, "Data": base64.b64encode(data).decode()}).encode())
                    continue
                if not follow:
                    break
                with self.st.lock:
                    dead = alloc["TaskStates"][task]["State"] == "dead" or alloc["ClientStatus"] in ("complete", "failed", "lost")
                if dead and (not os.path.exists(path) or os.path.getsize(path) <= offset):
                    break
                if time.monotonic() - last_beat > 1 and not plain:
                    chunk(b"{}", is_frame=False)  # heartbeat frame
                    last_beat = time.monotonic()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    # --- fake-only controls ---

    def fake_control(self, method, path, body):
        if path == "/fake/faults" and method == "PUT":
            faults = json.loads(body or b"{}")
            with self.st.lock:
                self.st.cut_logs_after_frames = faults.get("cutLogStreamsAfterFrames")
            return self.json(200, {})
        if path == "/fake/node/lose" and method == "PUT":
            with self.st.lock:
                self.st.node_down = True
                for a in self.st.allocs.values():
                    if a["ClientStatus"] in ("pending", "running"):
                        a["ClientStatus"] = "lost"
                        a["ClientDescription"] = "alloc is lost since its node is down"
                        a["DesiredStatus"] = "stop"
                        kill_alloc(self.st, a, "node down", lost=True)
                self.st.bump()
            return self.json(200, {})
        if path == "/fake/requests" and method == "GET":
            with self.st.lock:
                return self.json(200, self.st.requests)
        return self.text(404, "no such fake control")


def update_alloc(st, alloc, task_update=None, **fields):
    """Under st.lock: changes an allocation and moves the index."""
    index = st.bump()
    alloc.update(fields)
    if task_update:
        task_update(alloc["TaskStates"][alloc["_task"]["Name"]])
    alloc["ModifyIndex"] = index
    alloc["ModifyTime"] = int(time.time() * 1e9)


def run_alloc(st, alloc):
    """The client side: runs the docker task's command as a local process."""
    task = alloc["_task"]
    config = task.get("Config") or {}
    logs = os.path.join(alloc["_dir"], "alloc", "logs")
    os.makedirs(logs, exist_ok=True)
    name = task["Name"]
    images = st.args.images.split(",")
    argv = list(config.get("entrypoint") or []) + ([config["command"]] if config.get("command") else []) + list(config.get("args") or [])
    time.sleep(0.05)
    with st.lock:
        if alloc["DesiredStatus"] != "run":
            return
        if config.get("image") not in images:
            msg = "Failed to pull `%s`: API error (404): pull access denied for %s, repository does not exist" % (config.get("image"), config.get("image"))

            def fail(ts):
                ts["Events"].append(Handler.event("Driver Failure", msg, DriverError=msg, FailsTask=True))
                ts["Events"].append(Handler.event("Not Restarting", "Error was unrecoverable", FailsTask=True))
                ts.update(State="dead", Failed=True, FinishedAt=rfc3339(time.time()))
            update_alloc(st, alloc, fail, ClientStatus="failed", ClientDescription="Failed tasks")
            return
        if not argv:
            msg = "the fake needs a command: give entrypoint, command or both"

            def fail(ts):
                ts["Events"].append(Handler.event("Driver Failure", msg, DriverError=msg, FailsTask=True))
                ts.update(State="dead", Failed=True, FinishedAt=rfc3339(time.time()))
            update_alloc(st, alloc, fail, ClientStatus="failed", ClientDescription="Failed tasks")
            return
        env = dict(os.environ)
        env.update(task.get("Env") or {})
        env.update({"NOMAD_ALLOC_ID": alloc["ID"], "NOMAD_TASK_NAME": name, "NOMAD_JOB_ID": alloc["JobID"]})
        out = open(os.path.join(logs, name + ".stdout.0"), "wb")
        err = open(os.path.join(logs, name + ".stderr.0"), "wb")
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        except OSError as e:
            msg = "failed to start task: %s" % e

            def fail(ts):
                ts["Events"].append(Handler.event("Driver Failure", msg, DriverError=msg, FailsTask=True))
                ts.update(State="dead", Failed=True, FinishedAt=rfc3339(time.time()))
            update_alloc(st, alloc, fail, ClientStatus="failed", ClientDescription="Failed tasks")
            return
        alloc["_proc"] = proc
        started = time.time()

        def start(ts):
            ts["Events"].append(Handler.event("Task Setup", "Building Task Directory", Message="Building Task Directory"))
            ts["Events"].append(Handler.event("Started", "Task started by client"))
            ts.update(State="running", StartedAt=rfc3339(started))
        update_alloc(st, alloc, start, ClientStatus="running")
    code = proc.wait()
    out.close()
    err.close()
    with st.lock:
        signal_no = -code if code < 0 else 0
        exit_code = 128 + signal_no if code < 0 else code
        lost = alloc["ClientStatus"] == "lost"

        def finish(ts):
            if not lost:
                ts["Events"].append(Handler.event("Terminated", "Exit Code: %d%s" % (exit_code, ", Signal: %d" % signal_no if signal_no else ""),
                                                  ExitCode=exit_code, Signal=signal_no,
                                                  Details={"exit_code": str(exit_code), "signal": str(signal_no), "oom_killed": "false"}))
            if alloc.get("_killing"):
                ts["Events"].append(Handler.event("Killed", "Task successfully killed"))
            ts.update(State="dead", Failed=exit_code != 0 and not alloc.get("_killing"), FinishedAt=rfc3339(time.time()))
        status = "lost" if lost else ("complete" if exit_code == 0 or alloc.get("_killing") else "failed")
        update_alloc(st, alloc, finish, ClientStatus=status, _proc=None)
        job = st.jobs.get(alloc["_job"])
        if job and all(a["ClientStatus"] in ("complete", "failed", "lost") for a in st.allocs.values() if a["_job"] == alloc["_job"]):
            job["Status"] = "dead"
            job["ModifyIndex"] = st.bump()
        if alloc.get("_purged"):
            st.allocs.pop(alloc["ID"], None)
            st.bump()


def kill_alloc(st, alloc, reason, lost=False):
    """Under st.lock: SIGTERM now, SIGKILL after the task's KillTimeout (ns; default 5 s)."""
    proc = alloc.get("_proc")
    kill_timeout = (alloc["_task"].get("KillTimeout") or 5_000_000_000) / 1e9
    if proc is None:
        def never_ran(ts):
            if ts["State"] != "dead":
                ts["Events"].append(Handler.event("Killed", "Task successfully killed"))
                ts.update(State="dead", FinishedAt=rfc3339(time.time()))
        if alloc["ClientStatus"] == "pending":
            update_alloc(st, alloc, never_ran, ClientStatus="complete")
        return
    alloc["_killing"] = True

    def killing(ts):
        ts["Events"].append(Handler.event("Killing", "Sent interrupt. Waiting %ss before force killing" % kill_timeout,
                                          KillTimeout=int(kill_timeout * 1e9), KillReason=reason))
    if not lost:
        update_alloc(st, alloc, killing)
    try:
        os.killpg(proc.pid, signal.SIGKILL if lost else signal.SIGTERM)
    except ProcessLookupError:
        return

    def force():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    threading.Timer(kill_timeout, force).start()


def main():
    p = argparse.ArgumentParser(description="A fake Nomad agent for tests (see the module docstring).")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--acl-token")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--datacenter", default="dc1")
    p.add_argument("--node-pool", default="default")
    p.add_argument("--node-meta", action="append", default=[])
    p.add_argument("--images", default="busybox:latest,busybox")
    p.add_argument("--memory-mb", type=int, default=8192)
    p.add_argument("--data-dir")
    args = p.parse_args()
    class Server(ThreadingHTTPServer):
        # A real Nomad agent accepts bursts (Go's listen backlog is the kernel's somaxconn); the
        # default of 5 made a burst of a few hundred requests wait for SYN retransmits.
        request_queue_size = 1024

        def handle_error(self, request, client_address):
            # A client that hung up mid-answer (a blocking query whose extension was stopped) is
            # routine; a real Nomad drops the connection silently. Anything else is a bug: print it.
            if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ssl.SSLError)):
                return
            super().handle_error(request, client_address)

    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)

    def stop(*_):
        # Leave no task process behind.
        with server.state.lock:
            for a in server.state.allocs.values():
                if a.get("_proc") is not None:
                    try:
                        os.killpg(a["_proc"].pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
