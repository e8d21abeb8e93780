#!/usr/bin/env python3
"""A Gofer secret store in Python 3, standard library only: the non-Swift example extension.

Written from docs/protocol.md alone, to keep "any language" true: CI runs gofer-conformance
against it (Tests/ConformanceTests/InRepoExtensionsConformTests.swift). Secrets live in a JSON file
in the state directory Gofer gives the extension (paths.state), or in memory without one.

    gofer-conformance --kind secrets -- python3 Extensions/python-secrets/gofer_secrets.py
"""

import base64
import json
import os
import sys

NAME, VERSION = "python-secrets", "0.1.0"
MAX_FRAME = 4 * 1024 * 1024
MAX_DEPTH = 128
SUPPORTED = ["1.0"]
CONFIG_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {}}
PARAMS_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {}}

# Error codes (docs/protocol.md §5) and their default data.reason.
PARSE, INVALID_REQUEST, NO_METHOD, INVALID_PARAMS = -32700, -32600, -32601, -32602
UNSUPPORTED, NOT_INITIALIZED, ALREADY_INITIALIZED, SHUTTING_DOWN = -32000, -32001, -32002, -32003
FRAME_TOO_LARGE, DEADLINE, INVALID_CONFIG, NOT_FOUND = -32005, -32051, -32052, -32053
REASONS = {
    PARSE: "PARSE_ERROR", INVALID_REQUEST: "INVALID_REQUEST", NO_METHOD: "METHOD_NOT_FOUND", INVALID_PARAMS: "INVALID_PARAMS",
    UNSUPPORTED: "UNSUPPORTED_VERSION", NOT_INITIALIZED: "NOT_INITIALIZED", ALREADY_INITIALIZED: "ALREADY_INITIALIZED",
    SHUTTING_DOWN: "SHUTTING_DOWN", FRAME_TOO_LARGE: "FRAME_TOO_LARGE", DEADLINE: "DEADLINE_EXCEEDED", INVALID_CONFIG: "INVALID_CONFIG",
    NOT_FOUND: "NOT_FOUND",
}

# Frames go to the real stdout; anything a library prints lands on stderr instead.
OUT = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)


def log(msg, **fields):
    """One JSON line on stderr (never a secret value)."""
    sys.stderr.write(json.dumps({"level": "info", "msg": msg, **fields}) + "\n")
    sys.stderr.flush()


def send(frame):
    OUT.write(json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n")


class ProtocolError(Exception):
    def __init__(self, code, message, diagnostics=None, retryable=False, **data):
        super().__init__(message)
        self.code, self.message, self.diagnostics, self.retryable, self.data = code, message, diagnostics or [], retryable, data

    def json(self):
        data = {"reason": REASONS.get(self.code, "ERROR"), "retryable": self.retryable, **self.data}
        if self.diagnostics:
            data["diagnostics"] = [{"severity": "error", "path": p, "message": m} for p, m in self.diagnostics]
        return {"code": self.code, "message": self.message, "data": data}


def error(id_, err):
    send({"jsonrpc": "2.0", "id": id_, "error": err.json()})


# --- parsing: strict JSON, as §2 asks ------------------------------------------------------------

def no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError("duplicate key %r" % k)
        obj[k] = v
    return obj


def no_constants(name):
    raise ValueError("%s is not JSON" % name)


def depth(value, level=1):
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([depth(v, level + 1) for v in value.values()] + [level])
    if isinstance(value, list):
        return max([depth(v, level + 1) for v in value] + [level])
    return level - 1


def parse(line):
    text = line.decode("utf-8")  # strict: invalid UTF-8 raises
    if text.startswith("\ufeff"):
        raise ValueError("byte order mark")
    value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    if depth(value) > MAX_DEPTH:
        raise ValueError("nesting deeper than %d levels" % MAX_DEPTH)
    if has_surrogate(value):  # json.loads turns a lone \ud800 escape into a lone surrogate
        raise ValueError("lone surrogate")
    return value


def has_surrogate(value):
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_surrogate(v) for v in value)
    return False


def valid_id(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value <= 2**53 - 1
    return isinstance(value, str) and len(value) <= 128


# --- the store -----------------------------------------------------------------------------------

class Store:
    def __init__(self, directory):
        self.path = os.path.join(directory, "secrets.json") if directory else None
        self.values = {}
        if self.path and os.path.exists(self.path):
            with open(self.path, "rb") as f:
                self.values = {k: base64.b64decode(v) for k, v in json.load(f).items()}

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({k: base64.b64encode(v).decode() for k, v in self.values.items()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def check_key(params):
    key = params.get("key")
    problem = None
    if not isinstance(key, str) or not key:
        problem = "required: a non-empty string"
    elif len(key.encode("utf-8")) > 512:
        problem = "longer than 512 bytes"
    elif key.startswith("/"):
        problem = "must not start with /"
    elif any(c in key for c in "\0\r\n"):
        problem = "must not contain NUL, CR or LF"
    elif any(seg in ("", ".", "..") for seg in key.split("/")):
        problem = "must not have empty, . or .. segments"
    if problem:
        raise ProtocolError(INVALID_PARAMS, "invalid key: " + problem, [("/params/key", problem)])
    return key


class Extension:
    def __init__(self):
        self.initialized = False
        self.shutting_down = False
        self.shutdown_done = False
        self.store = None

    def initialize(self, params):
        if self.initialized:
            raise ProtocolError(ALREADY_INITIALIZED, "already initialized")
        versions = params.get("protocolVersions")
        if not isinstance(versions, list) or not versions:
            raise ProtocolError(INVALID_PARAMS, "protocolVersions must be a non-empty array", [("/protocolVersions", "required")])
        for i, v in enumerate(versions):
            parts = v.split(".") if isinstance(v, str) else []
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise ProtocolError(INVALID_PARAMS, "malformed protocol version %r" % (v,), [("/protocolVersions/%d" % i, "MAJOR.MINOR")])
        chosen = next((s for s in SUPPORTED for v in versions if v.split(".")[0] == s.split(".")[0]), None)
        if chosen is None:
            raise ProtocolError(UNSUPPORTED, "no common protocol major", supported=SUPPORTED, requested=versions)
        kind = params.get("kind")
        if kind is not None and kind != "secrets":
            raise ProtocolError(INVALID_PARAMS, "this is a secrets extension, not a %s" % kind, [("/kind", "expected secrets")])
        admin = (params.get("config") or {}).get("admin") or {}
        unknown = sorted(k for k in admin if k not in CONFIG_SCHEMA["properties"])
        if unknown:
            raise ProtocolError(INVALID_CONFIG, "unknown config field(s): " + ", ".join(unknown),
                                [("/config/admin/" + k, "unknown field") for k in unknown])
        self.store = Store((params.get("paths") or {}).get("state"))
        self.initialized = True
        log("initialized", protocol=chosen)
        return {
            "protocolVersion": chosen,
            "extension": {"name": NAME, "kind": "secrets", "version": VERSION, "summary": "Secrets in a file, in Python (an example)."},
            "capabilities": {}, "configSchema": CONFIG_SCHEMA, "paramsSchema": PARAMS_SCHEMA,
            "limits": {"maxFrameBytes": MAX_FRAME, "maxConcurrentRequests": 64},
        }

    def get(self, params):
        key = check_key(params)
        if key not in self.store.values:
            raise ProtocolError(NOT_FOUND, "no secret %r" % key)
        value = self.store.values[key]
        try:
            return {"value": value.decode("utf-8")}
        except UnicodeDecodeError:
            return {"valueB64": base64.b64encode(value).decode()}

    def put(self, params):
        key = check_key(params)
        if isinstance(params.get("value"), str):
            value = params["value"].encode("utf-8")
        elif isinstance(params.get("valueB64"), str):
            try:
                value = base64.b64decode(params["valueB64"], validate=True)
            except ValueError:
                raise ProtocolError(INVALID_PARAMS, "valueB64 is not base64", [("/params/valueB64", "not base64")])
        else:
            raise ProtocolError(INVALID_PARAMS, "give value or valueB64", [("/params/value", "required")])
        self.store.values[key] = value
        self.store.save()
        return {}

    def delete(self, params):
        key = check_key(params)
        if self.store.values.pop(key, None) is not None:
            self.store.save()
        return {}

    def list(self, params):
        prefix = params.get("prefix", "")
        if not isinstance(prefix, str):
            raise ProtocolError(INVALID_PARAMS, "prefix must be a string", [("/params/prefix", "expected a string")])
        return {"keys": sorted(k for k in self.store.values if k.startswith(prefix))}

    def handle(self, method, params):
        if method == "$/ping":
            return {}
        if method == "initialize":
            return self.initialize(params)
        if not self.initialized:
            raise ProtocolError(NOT_INITIALIZED, "initialize first")
        if self.shutting_down:
            raise ProtocolError(SHUTTING_DOWN, "shutting down", retryable=True)
        if method == "shutdown":
            self.shutting_down = self.shutdown_done = True
            return {}
        if method == "health":
            return {"status": "healthy"}
        handler = {"secrets/get": self.get, "secrets/put": self.put, "secrets/delete": self.delete, "secrets/list": self.list}.get(method)
        if handler is None:
            raise ProtocolError(NO_METHOD, "unknown method %r" % method)
        return handler(params)


def serve():
    if sys.stdin.isatty():
        sys.stderr.write("%s speaks Gofer's extension protocol on stdin/stdout; Gofer starts it.\n" % NAME)
        sys.exit(2)
    ext = Extension()
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline(MAX_FRAME + 2)
        if not line:
            log("stdin closed")
            sys.exit(0)
        if len(line) > MAX_FRAME + 1 or (not line.endswith(b"\n") and len(line) > MAX_FRAME):
            head = line[:256]
            while not line.endswith(b"\n"):  # discard the rest of the frame
                line = stdin.readline(MAX_FRAME)
                if not line:
                    break
            id_ = None
            try:
                start = head.index(b'"id":') + 5
                raw = head[start:].split(b",")[0].strip()
                candidate = json.loads(raw)
                id_ = candidate if valid_id(candidate) else None
            except ValueError:
                pass
            error(id_, ProtocolError(FRAME_TOO_LARGE, "frame over %d bytes" % MAX_FRAME))
            continue
        line = line.rstrip(b"\n").rstrip(b"\r")
        if not line.strip():
            continue
        try:
            frame = parse(line)
        except (ValueError, RecursionError) as e:
            error(None, ProtocolError(PARSE, "parse error: %s" % e))
            continue
        if not isinstance(frame, dict):
            error(None, ProtocolError(INVALID_REQUEST, "a frame must be a JSON object"))
            continue
        has_id = "id" in frame
        id_ = frame.get("id")
        if has_id and not valid_id(id_):
            error(None, ProtocolError(INVALID_REQUEST, "invalid id"))
            continue
        if frame.get("jsonrpc") != "2.0":
            error(id_ if has_id else None, ProtocolError(INVALID_REQUEST, 'jsonrpc must be "2.0"'))
            continue
        method = frame.get("method")
        if method is None:
            continue  # a response: this store sends no requests, so none is pending
        if not isinstance(method, str) or not method:
            error(id_ if has_id else None, ProtocolError(INVALID_REQUEST, "method must be a non-empty string"))
            continue
        params = frame.get("params", {})
        if not isinstance(params, dict):
            if has_id:
                error(id_, ProtocolError(INVALID_PARAMS, "params must be an object", [("/params", "expected an object")]))
            continue
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        params = {k: v for k, v in params.items() if k != "_meta"}
        if not has_id:  # notifications: exit, initialized, $/cancel, stream/credit, unknown ones
            if method == "exit":
                sys.exit(0 if ext.shutdown_done else 1)
            continue
        timeout = meta.get("timeoutMs")
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout <= 0 and method != "$/ping":
            # Expired on arrival (§6). Every other request here finishes at once, well within any deadline.
            error(id_, ProtocolError(DEADLINE, "the request's deadline (_meta.timeoutMs) had passed on arrival", retryable=True))
            continue
        try:
            send({"jsonrpc": "2.0", "id": id_, "result": ext.handle(method, params)})
        except ProtocolError as e:
            error(id_, e)
            if e.code == UNSUPPORTED:
                sys.exit(3)
        except Exception as e:  # a bug here: say so, keep serving
            error(id_, ProtocolError(-32603, "internal error: %s" % type(e).__name__))


if __name__ == "__main__":
    if sys.argv[1:] == ["--describe"]:
        manifest = {
            "name": NAME, "kind": "secrets", "version": VERSION, "summary": "Secrets in a file, in Python (an example).",
            "protocolVersions": SUPPORTED, "capabilities": {}, "configSchema": CONFIG_SCHEMA, "paramsSchema": PARAMS_SCHEMA,
        }
        send(manifest)
        sys.exit(0)
    serve()
