"""The protocol engine: reads frames, dispatches requests to the extension, answers each exactly once.

Everything here runs on one asyncio loop; a reader thread turns stdin lines into frames for it.
Handlers run as tasks, so `$/ping`, `$/cancel` and `stream/credit` are handled as they arrive (§6).
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Coroutine, Dict, List, Optional, Set, Tuple

from . import _wire
from .errors import Code, Diagnostic, ProtocolError
from .schema import validate

if TYPE_CHECKING:
    from .extension import Extension

#: The versions this SDK speaks, highest minor of each major.
PROTOCOL_VERSIONS = ["1.1"]
SDK = {"name": "gofer-extension-python", "version": "0.1.0"}
MAX_FRAME_BYTES = 4 * 1024 * 1024
#: A stream whose opening request names no window gets this much credit (the Swift SDK's too).
DEFAULT_WINDOW_BYTES = 256 * 1024
#: Items of one `stream/data` frame carry at most this many payload bytes.
BATCH_BYTES = 64 * 1024

Handler = Callable[[Dict[str, Any], "Request"], Awaitable[Dict[str, Any]]]


class Request:
    """One request being handled: its id, method, deadline, and its output stream if it opened one."""

    def __init__(self, conn: "Connection", id_: Any, method: str, meta: Dict[str, Any]) -> None:
        self.id = id_
        self.method = method
        self.idempotency_key: Optional[str] = meta.get("idempotencyKey") if isinstance(meta.get("idempotencyKey"), str) else None
        self.stream: Optional[Stream] = None
        spec = meta.get("stream")
        if isinstance(spec, dict) and isinstance(spec.get("id"), str) and spec["id"]:
            window = spec.get("windowBytes")
            window = window if isinstance(window, int) and not isinstance(window, bool) and window >= 0 else DEFAULT_WINDOW_BYTES
            self.stream = Stream(conn, spec["id"], window)
        self.cancel_reason: Optional[str] = None
        self.deadline_passed = False
        self.answered = False


class Stream:
    """Output of one request (§7): `await stream.write(b"...")`, in order, within the host's credit."""

    def __init__(self, conn: "Connection", stream_id: str, window: int) -> None:
        self._conn = conn
        self.id = stream_id
        self._credit = window
        self._seq = 0
        self._more = asyncio.Event()
        self.input: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()

    def grant(self, bytes_: int) -> None:
        self._credit += bytes_
        self._more.set()

    async def write(self, data: "bytes | str", fd: str = "stdout", cursor: Optional[str] = None) -> None:
        """Sends `data` as one or more `stream/data` frames, waiting for credit as the host grants it.
        No frame exceeds the host's `limits.maxFrameBytes`: pieces are cut smaller when it is small."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        # Room for one item even if every byte needs a six-byte escape (\u0001).
        piece_max = min(BATCH_BYTES, max(16, (self._conn.host_max_frame - 160 - 2 * len(self.id)) // 6))
        while raw:
            while self._credit <= 0:
                self._more.clear()
                await self._more.wait()
            size = min(len(raw), self._credit, piece_max)
            while True:
                piece = raw[:size]
                # Never cut a UTF-8 sequence in two when the rest is text.
                back = 0
                while back < 3 and size > 1 and size < len(raw) and (raw[size] & 0xC0) == 0x80:
                    size -= 1
                    back += 1
                    piece = raw[:size]
                frame = self._frame(piece, fd, cursor if size == len(raw) else None)
                if len(frame) - 1 <= self._conn.host_max_frame or size <= 1:
                    break
                size = max(1, size // 2)
            raw = raw[size:]
            self._credit -= len(piece)
            self._seq += 1
            self._conn.write(frame)

    def _frame(self, piece: bytes, fd: str, cursor: Optional[str]) -> bytes:
        try:
            item: Dict[str, Any] = {"fd": fd, "text": piece.decode("utf-8")}
        except UnicodeDecodeError:
            item = {"fd": fd, "b64": base64.b64encode(piece).decode("ascii")}
        params: Dict[str, Any] = {"streamId": self.id, "seq": self._seq, "items": [item]}
        if cursor is not None:
            params["cursor"] = cursor
        return _wire.dumps({"jsonrpc": "2.0", "method": "stream/data", "params": params})


class Connection:
    """One extension process speaking to its host over stdin/stdout."""

    def __init__(self, extension: "Extension", out_fd: int) -> None:
        self.ext = extension
        self.out_fd = out_fd
        self.loop = asyncio.get_running_loop()
        self.initialized = False
        self.shutting_down = False
        self.shutdown_answered = False
        self.protocol_version = ""
        self.host_max_frame = MAX_FRAME_BYTES
        #: The host's frame limit binds every frame after the initialize answer (protocol.md §2).
        self.frame_limit_applies = False
        self.cancel_grace = 5.0
        self.in_flight: Dict[Any, Tuple[Request, "asyncio.Task[None]"]] = {}
        self.calls = 0
        self.watches = 0
        self.streams: Dict[str, Stream] = {}
        self.pending: Dict[str, "asyncio.Future[Dict[str, Any]]"] = {}
        self.next_id = 0
        self.exit_code: Optional[int] = None
        self.done = asyncio.Event()
        self.background: Set["asyncio.Task[Any]"] = set()

    # --- output ------------------------------------------------------------------------------

    def send(self, frame: Dict[str, Any]) -> None:
        self.write(_wire.dumps(frame))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.out_fd, view)
            view = view[written:]

    def too_large(self, data: bytes) -> bool:
        """Whether a frame (LF-terminated) is over the host's limit."""
        return self.frame_limit_applies and len(data) - 1 > self.host_max_frame

    def answer(self, request: Request, result: Optional[Dict[str, Any]] = None, error: Optional[ProtocolError] = None) -> None:
        if request.answered:
            return
        request.answered = True
        if error is not None:
            self.send({"jsonrpc": "2.0", "id": request.id, "error": error.json()})
            return
        data = _wire.dumps({"jsonrpc": "2.0", "id": request.id, "result": result if result is not None else {}})
        if self.too_large(data):
            # An answer the host would discard: say why instead.
            err = ProtocolError(Code.FRAME_TOO_LARGE, "the answer is %d bytes, over the host's limit of %d bytes (limits.maxFrameBytes)"
                                % (len(data) - 1, self.host_max_frame), reason="answer_too_large")
            self.send({"jsonrpc": "2.0", "id": request.id, "error": err.json()})
            return
        self.write(data)

    def error(self, id_: Any, err: ProtocolError) -> None:
        self.send({"jsonrpc": "2.0", "id": id_, "error": err.json()})

    # --- requests to the host ----------------------------------------------------------------

    async def request(self, method: str, params: Dict[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        """Calls the host (`trigger/emit`, `objects/put` …) and returns its result; raises ProtocolError."""
        self.next_id += 1
        id_ = "e%d" % self.next_id
        future: "asyncio.Future[Dict[str, Any]]" = self.loop.create_future()
        self.pending[id_] = future
        if timeout is not None:
            params = {**params, "_meta": {"timeoutMs": int(timeout * 1000)}}
        data = _wire.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})
        if self.too_large(data):
            self.pending.pop(id_, None)
            raise ProtocolError(Code.FRAME_TOO_LARGE, "%s would be a %d-byte frame, over the host's limit of %d bytes (limits.maxFrameBytes)"
                                % (method, len(data) - 1, self.host_max_frame), reason="request_too_large")
        self.write(data)
        try:
            if timeout is None:
                return await future
            return await asyncio.wait_for(future, timeout + self.cancel_grace)
        except asyncio.TimeoutError:
            raise ProtocolError(Code.DEADLINE_EXCEEDED, "the host did not answer %s within %.0f s" % (method, timeout or 0)) from None
        finally:
            self.pending.pop(id_, None)

    # --- input -------------------------------------------------------------------------------

    def start_reader(self, queue: "asyncio.Queue[Optional[bytes]]") -> None:
        """Reads stdin in a thread: each line (or an oversize marker) goes to `queue`; None at EOF."""
        stdin = sys.stdin.buffer

        def put(item: Optional[bytes]) -> None:
            self.loop.call_soon_threadsafe(queue.put_nowait, item)

        def read() -> None:
            limit = MAX_FRAME_BYTES
            try:
                while True:
                    line = stdin.readline(limit + 2)
                    if not line:
                        break
                    if len(line) > limit + 1 or (not line.endswith(b"\n") and len(line) > limit):
                        head = line[:256]
                        while not line.endswith(b"\n"):
                            line = stdin.readline(limit)
                            if not line:
                                break
                        put(b"\0oversize" + head)
                        continue
                    put(line)
            except (OSError, ValueError):
                pass
            put(None)

        threading.Thread(target=read, name="gofer-stdin", daemon=True).start()

    async def serve(self) -> int:
        queue: "asyncio.Queue[Optional[bytes]]" = asyncio.Queue()
        self.start_reader(queue)
        while self.exit_code is None:
            getter = asyncio.ensure_future(queue.get())
            stopped = asyncio.ensure_future(self.done.wait())
            finished, _ = await asyncio.wait({getter, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in finished:
                getter.cancel()
                break
            stopped.cancel()
            line = getter.result()
            if line is None:
                self.ext.log("stdin closed: the host is gone")
                self.exit_code = 0
                break
            self.receive(line)
        await self.stop_everything()
        return self.exit_code if self.exit_code is not None else 0

    async def stop_everything(self) -> None:
        for _, task in list(self.in_flight.values()):
            task.cancel()
        for task in list(self.background):
            task.cancel()
        pending = [t for _, t in self.in_flight.values()] + list(self.background)
        if pending:
            await asyncio.wait(pending, timeout=1.5)

    def receive(self, line: bytes) -> None:
        if line.startswith(b"\0oversize"):
            self.error(_wire.id_in_head(line[9:]), ProtocolError(Code.FRAME_TOO_LARGE, "frame over %d bytes" % MAX_FRAME_BYTES))
            return
        line = line.rstrip(b"\n").rstrip(b"\r")
        if not line.strip():
            return
        try:
            frame = _wire.parse(line)
        except _wire.ParseError as e:
            self.error(None, ProtocolError(Code.PARSE_ERROR, "parse error: %s" % e))
            return
        if not isinstance(frame, dict):
            self.error(None, ProtocolError(Code.INVALID_REQUEST, "a frame must be a JSON object (no batches)"))
            return
        has_id = "id" in frame
        id_ = frame.get("id")
        if has_id and not _wire.valid_id(id_):
            self.error(None, ProtocolError(Code.INVALID_REQUEST, "invalid id: an integer 0…2^53-1 or a string of at most 128 characters"))
            return
        if frame.get("jsonrpc") != "2.0":
            self.error(id_ if has_id else None, ProtocolError(Code.INVALID_REQUEST, 'jsonrpc must be "2.0"'))
            return
        method = frame.get("method")
        if method is None:
            if has_id and isinstance(id_, str) and id_ in self.pending:
                future = self.pending[id_]
                if not future.done():
                    if "error" in frame:
                        future.set_exception(ProtocolError.from_json(frame["error"]))
                    else:
                        result = frame.get("result")
                        future.set_result(result if isinstance(result, dict) else {})
            return  # a response to nothing pending is ignored
        if not isinstance(method, str) or not method:
            self.error(id_ if has_id else None, ProtocolError(Code.INVALID_REQUEST, "method must be a non-empty string"))
            return
        params = frame.get("params", {})
        if not isinstance(params, dict):
            if has_id:
                self.error(id_, ProtocolError(Code.INVALID_PARAMS, "params must be an object", diagnostics=[Diagnostic("/params", "expected an object")]))
            return
        meta = _wire.obj(params.get("_meta"))
        params = {k: v for k, v in params.items() if k != "_meta"}
        if has_id:
            self.request_arrived(id_, method, params, meta)
        else:
            self.notification(method, params)

    def notification(self, method: str, params: Dict[str, Any]) -> None:
        if method == "exit":
            self.exit_code = 0 if self.shutdown_answered else 1
            self.done.set()
        elif method == "$/cancel":
            entry = self.in_flight.get(params.get("id"))
            if entry is not None:
                request, task = entry
                request.cancel_reason = str(params.get("reason") or "cancelled by the host")
                task.cancel()
                self.loop.call_later(self.cancel_grace, self.answer_cancelled, request)
        elif method == "stream/credit":
            stream = self.streams.get(params.get("streamId"))  # type: ignore[arg-type]
            if stream is not None and isinstance(params.get("bytes"), int) and params["bytes"] > 0:
                stream.grant(params["bytes"])
        elif method == "attach/input":
            stream = self.streams.get(params.get("streamId"))  # type: ignore[arg-type]
            if stream is not None:
                stream.input.put_nowait(params)
        # initialized and unknown notifications: nothing to do.

    def answer_cancelled(self, request: Request) -> None:
        self.answer(request, error=ProtocolError(Code.CANCELLED, "cancelled: %s" % request.cancel_reason))

    def request_arrived(self, id_: Any, method: str, params: Dict[str, Any], meta: Dict[str, Any]) -> None:
        if method == "$/ping":
            self.send({"jsonrpc": "2.0", "id": id_, "result": {}})
            return
        if id_ in self.in_flight:
            self.error(id_, ProtocolError(Code.INVALID_REQUEST, "id %r is already in flight" % (id_,)))
            return
        if method == "initialize":
            try:
                result = self.initialize(params)
            except ProtocolError as e:
                self.error(id_, e)
                if e.code == Code.UNSUPPORTED_VERSION:
                    self.exit_code = 3
                    self.done.set()
                return
            self.start(Request(self, id_, method, meta), self.setup_handler, params, result)
            return
        if not self.initialized:
            self.error(id_, ProtocolError(Code.NOT_INITIALIZED, "initialize first"))
            return
        if self.shutting_down:
            self.error(id_, ProtocolError(Code.SHUTTING_DOWN, "shutting down"))
            return
        timeout = meta.get("timeoutMs")
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout <= 0:
            self.error(id_, ProtocolError(Code.DEADLINE_EXCEEDED, "the request's deadline (_meta.timeoutMs) had passed on arrival"))
            return
        if method == "shutdown":
            deadline = params.get("deadlineMs")
            self.shutting_down = True
            request = Request(self, id_, method, meta)
            self.start(request, self.shutdown_handler, {"deadlineMs": deadline}, None)
            return
        handler = self.ext._handlers().get(method)
        if handler is None:
            self.error(id_, ProtocolError(Code.METHOD_NOT_FOUND, "unknown method %r for a %s extension" % (method, self.ext.kind)))
            return
        request = Request(self, id_, method, meta)
        watch = request.stream is not None or method == "scheduler/wait"
        if watch and self.watches >= self.ext.max_concurrent_watches or not watch and self.calls >= self.ext.max_concurrent_requests:
            self.error(id_, ProtocolError(Code.RESOURCE_EXHAUSTED, "too many requests in flight", retry_after_ms=100))
            return
        task = self.start(request, self.call, handler, params)
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
            def expire() -> None:
                if not request.answered:
                    request.deadline_passed = True
                    task.cancel()
                    self.loop.call_later(self.cancel_grace, self.answer, request, None,
                                         ProtocolError(Code.DEADLINE_EXCEEDED, "deadline of %d ms passed" % timeout))
            self.loop.call_later(timeout / 1000.0, expire)

    def start(self, request: Request, body: Callable[..., Awaitable[None]], *args: Any) -> "asyncio.Task[None]":
        watch = request.stream is not None or request.method == "scheduler/wait"
        if watch:
            self.watches += 1
        else:
            self.calls += 1
        if request.stream is not None:
            self.streams[request.stream.id] = request.stream

        async def run() -> None:
            try:
                await body(request, *args)
            finally:
                if watch:
                    self.watches -= 1
                else:
                    self.calls -= 1
                self.in_flight.pop(request.id, None)
                if request.stream is not None:
                    self.streams.pop(request.stream.id, None)

        task = self.loop.create_task(run())
        self.in_flight[request.id] = (request, task)
        return task

    async def call(self, request: Request, handler: Handler, params: Dict[str, Any]) -> None:
        try:
            result = await handler(params, request)
            self.answer(request, result)
        except ProtocolError as e:
            self.answer(request, error=e)
        except asyncio.CancelledError:
            if request.deadline_passed:
                self.answer(request, error=ProtocolError(Code.DEADLINE_EXCEEDED, "the request's deadline passed"))
            else:
                self.answer(request, error=ProtocolError(Code.CANCELLED, "cancelled: %s" % (request.cancel_reason or "the extension is stopping")))
        except Exception as e:  # a bug in the extension: say so, keep serving
            self.ext.log("internal error in %s: %s" % (request.method, type(e).__name__), level="error", trace=traceback.format_exc())
            self.answer(request, error=ProtocolError(Code.INTERNAL_ERROR, "internal error in %s: %s" % (request.method, type(e).__name__)))

    # --- lifecycle ---------------------------------------------------------------------------

    def initialize(self, params: Dict[str, Any]) -> Dict[str, Any]:
        if self.initialized:
            raise ProtocolError(Code.ALREADY_INITIALIZED, "already initialized")
        versions = params.get("protocolVersions")
        if not isinstance(versions, list) or not versions:
            raise ProtocolError(Code.INVALID_PARAMS, "protocolVersions must be a non-empty array",
                                diagnostics=[Diagnostic("/protocolVersions", "required")])
        offered: List[Tuple[int, int]] = []
        for i, v in enumerate(versions):
            parts = v.split(".") if isinstance(v, str) else []
            if len(parts) != 2 or not all(p.isdigit() and len(p) < 6 for p in parts):
                raise ProtocolError(Code.INVALID_PARAMS, "malformed protocol version %r: write MAJOR.MINOR" % (v,),
                                    diagnostics=[Diagnostic("/protocolVersions/%d" % i, "MAJOR.MINOR, e.g. 1.1")])
            offered.append((int(parts[0]), int(parts[1])))
        mine = [(int(s.split(".")[0]), int(s.split(".")[1])) for s in PROTOCOL_VERSIONS]
        common = sorted(((major, min(minor, theirs)) for major, minor in mine for m2, theirs in offered if m2 == major), reverse=True)
        if not common:
            raise ProtocolError(
                Code.UNSUPPORTED_VERSION,
                "no common protocol version: the host offers %s; %s %s speaks %s" % (", ".join(map(str, versions)), self.ext.name, self.ext.version, ", ".join(PROTOCOL_VERSIONS)),
                supported=PROTOCOL_VERSIONS, requested=versions)
        kind = params.get("kind")
        if kind is not None and kind != self.ext.kind:
            raise ProtocolError(Code.INVALID_PARAMS, "this is a %s extension, not a %s" % (self.ext.kind, kind),
                                diagnostics=[Diagnostic("/kind", "expected %s" % self.ext.kind)])
        config = _wire.obj(params.get("config"))
        admin = config.get("admin", {})
        problems = validate(admin, self.ext.config_schema, "/config/admin")
        if problems:
            raise ProtocolError(Code.INVALID_CONFIG, "invalid config: " + "; ".join("%s: %s" % (d.path, d.message) for d in problems), diagnostics=problems)
        limits = _wire.obj(params.get("limits"))
        if isinstance(limits.get("maxFrameBytes"), int) and not isinstance(limits["maxFrameBytes"], bool):
            self.host_max_frame = min(max(limits["maxFrameBytes"], 1024), 64 << 20)
        timeouts = _wire.obj(params.get("timeouts"))
        if isinstance(timeouts.get("cancelGraceMs"), int):
            self.cancel_grace = max(0.0, timeouts["cancelGraceMs"] / 1000.0)
        paths = _wire.obj(params.get("paths"))
        self.protocol_version = "%d.%d" % common[0]
        self.ext._bind(self, admin, _wire.obj(config.get("system")), paths)
        return {
            "protocolVersion": self.protocol_version,
            "extension": {"name": self.ext.name, "kind": self.ext.kind, "version": self.ext.version, "summary": self.ext.summary, "sdk": SDK},
            "capabilities": self.ext.capabilities(),
            "configSchema": self.ext.config_schema,
            "paramsSchema": self.ext.params_schema,
            "limits": {"maxFrameBytes": MAX_FRAME_BYTES, "maxConcurrentRequests": self.ext.max_concurrent_requests,
                       "maxConcurrentWatches": self.ext.max_concurrent_watches},
        }

    async def setup_handler(self, request: Request, params: Dict[str, Any], result: Dict[str, Any]) -> None:
        try:
            await self.ext.setup()
        except ProtocolError as e:
            self.answer(request, error=e)
            return
        except Exception as e:
            self.ext.log("setup failed: %s" % e, level="error", trace=traceback.format_exc())
            self.answer(request, error=ProtocolError(Code.INVALID_CONFIG, "cannot start: %s" % e))
            return
        self.initialized = True
        self.answer(request, result)
        self.frame_limit_applies = True

    async def shutdown_handler(self, request: Request, params: Dict[str, Any], _: Any) -> None:
        deadline_ms = params.get("deadlineMs")
        budget = (deadline_ms / 1000.0 if isinstance(deadline_ms, (int, float)) and not isinstance(deadline_ms, bool) else 10.0) * 0.8
        others = [t for r, t in self.in_flight.values() if r is not request]
        if others:
            _, left = await asyncio.wait(others, timeout=budget)
            for task in left:
                task.cancel()
            if left:
                await asyncio.wait(left, timeout=1.0)
        try:
            await asyncio.wait_for(self.ext.close(), timeout=max(0.1, budget))
        except Exception as e:
            self.ext.log("close failed: %s" % e, level="warning")
        self.shutdown_answered = True
        self.answer(request, {})

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> "asyncio.Task[Any]":
        """Runs background work the SDK owns (a trigger's subscription); cancelled at exit."""
        task: "asyncio.Task[Any]" = self.loop.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task


def monotonic() -> float:
    return time.monotonic()
