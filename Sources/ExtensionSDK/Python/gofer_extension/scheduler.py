"""Schedulers (§10.3): override start, inspect, stop, remove, logs and list; the SDK checks every job
spec, answers unknown handles as the protocol says, waits by polling `inspect`, and streams logs
within the host's credit."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ._connection import BATCH_BYTES, Request
from .errors import Code, Diagnostic, ProtocolError, failed_precondition, invalid_params, not_found, unavailable
from .extension import Extension
from .schema import validate


@dataclass
class JobSpec:
    """A task's job, checked: non-empty image and id, string arrays, env names without `=`."""

    task_execution_id: str
    image: str
    command: Optional[List[str]] = None
    entrypoint: Optional[List[str]] = None
    env: Dict[str, str] = field(default_factory=dict)
    labels: Dict[str, str] = field(default_factory=dict)
    cpus: Optional[float] = None
    memory_mb: Optional[int] = None
    registry_auth: Optional[Dict[str, str]] = None
    placement: Optional[Dict[str, Any]] = None
    #: The grace the host will stop this job with, in seconds.
    stop_grace: float = 10.0


@dataclass
class JobStatus:
    """What a job is doing: `state` is created, running, exited or unknown; times are RFC 3339 as
    the engine recorded them (keep the fraction: `2026-12-07T10:00:00.123Z`)."""

    handle: str
    state: str
    exit_code: Optional[int] = None
    oom_killed: bool = False
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    labels: Dict[str, str] = field(default_factory=dict)
    message: Optional[str] = None

    def json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"handle": self.handle, "state": self.state, "oomKilled": self.oom_killed, "labels": self.labels}
        for key, value in (("exitCode", self.exit_code), ("startedAt", self.started_at), ("finishedAt", self.finished_at), ("message", self.message)):
            if value is not None:
                out[key] = value
        return out


class LogSink:
    """Where `logs` writes a job's output: `await sink.write(data, "stdout" | "stderr")`."""

    def __init__(self, request: Request) -> None:
        self._request = request

    async def write(self, data: bytes, fd: str = "stdout") -> None:
        if data and self._request.stream is not None:
            await self._request.stream.write(data, fd=fd)

    #: How long `pipe` gathers more output into a piece before passing it on (seconds): output
    #: written line by line goes out in batches of up to 64 KiB, not a frame per line (§7).
    batch_window = 0.01

    async def pipe(self, process: "asyncio.subprocess.Process") -> int:
        """Copies a subprocess's stdout and stderr (both PIPEs) here as they come, in batches;
        returns its exit code."""
        loop = asyncio.get_running_loop()

        async def copy(reader: Optional[asyncio.StreamReader], fd: str) -> None:
            if reader is None:
                return
            while True:
                chunk = await reader.read(BATCH_BYTES)
                if not chunk:
                    return
                deadline = loop.time() + self.batch_window
                ended = False
                while len(chunk) < BATCH_BYTES and not ended:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        more = await asyncio.wait_for(reader.read(BATCH_BYTES - len(chunk)), left)
                    except asyncio.TimeoutError:
                        break
                    ended = not more
                    chunk += more
                await self.write(chunk, fd)
                if ended:
                    return

        try:
            await asyncio.gather(copy(process.stdout, "stdout"), copy(process.stderr, "stderr"))
            return await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def command(*args: str, input: Optional[bytes] = None) -> bytes:
    """Runs a command (a CLI the scheduler drives) and returns its stdout; a failure raises
    ProtocolError Unavailable (retryable) with what it printed on stderr."""
    try:
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        raise unavailable("cannot run %s: %s" % (args[0], e.strerror)) from None
    try:
        out, err = await process.communicate(input)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise CommandFailed(args, process.returncode or 0, err.decode("utf-8", "replace").strip())
    return out


class CommandFailed(ProtocolError):
    """A command of `command()` exited non-zero: `stderr` says why."""

    def __init__(self, args: Any, status: int, stderr: str) -> None:
        super().__init__(Code.UNAVAILABLE, "%s exited %d: %s" % (" ".join(args[:2]), status, stderr[:500]))
        self.status = status
        self.stderr = stderr


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class Scheduler(Extension):
    """A scheduler: runs each task as a job somewhere and reports on it.

    ```python
    class Engine(Scheduler):
        name = "my-engine"
        async def start(self, spec): ...            # -> handle; the same task_execution_id -> the same job
        async def inspect(self, handle): ...        # -> JobStatus, or None for an unknown handle
        async def stop(self, handle, grace): ...    # SIGTERM, SIGKILL after `grace` seconds
        async def remove(self, handle): ...         # the job has exited
        async def logs(self, handle, sink, follow): ...   # await sink.write(bytes, "stdout")
        async def list(self, labels): ...           # -> [JobStatus] carrying every label
    serve(Engine())
    ```
    `params_schema` describes the `placement` a task may give (none by default). Jobs must outlive
    the extension: the next instance finds them by `inspect` and `list`.
    """

    kind = "scheduler"
    #: How often the default `wait` polls `inspect`, at first and at most (seconds).
    poll_first, poll_max = 0.05, 0.5

    async def start(self, spec: JobSpec) -> str:
        raise NotImplementedError

    async def inspect(self, handle: str) -> Optional[JobStatus]:
        raise NotImplementedError

    async def wait(self, handle: str) -> JobStatus:
        """Until the job exited; polls `inspect` (override when the engine can block)."""
        delay = self.poll_first
        while True:
            status = await self.inspect(handle)
            if status is None:
                raise failed_precondition("job %s vanished" % handle, reason="scheduler.job_lost")
            if status.state == "exited":
                return status
            await asyncio.sleep(delay)
            delay = min(self.poll_max, delay * 2)

    async def stop(self, handle: str, grace: float) -> None:
        raise NotImplementedError

    async def remove(self, handle: str) -> None:
        raise NotImplementedError

    async def logs(self, handle: str, sink: LogSink, follow: bool) -> None:
        raise NotImplementedError

    async def list(self, labels: Dict[str, str]) -> List[JobStatus]:
        raise NotImplementedError

    def _handlers(self) -> Dict[str, Any]:
        return {
            **super()._handlers(), "scheduler/start": self._start, "scheduler/inspect": self._inspect, "scheduler/wait": self._wait,
            "scheduler/stop": self._stop, "scheduler/remove": self._remove, "scheduler/logs": self._logs, "scheduler/list": self._list,
        }

    def _spec(self, p: Dict[str, Any]) -> JobSpec:
        problems: List[Diagnostic] = []
        for name in ("taskExecutionId", "image"):
            if not isinstance(p.get(name), str) or not p[name]:
                problems.append(Diagnostic("/" + name, "required: a non-empty string"))
        for name in ("command", "entrypoint"):
            if name in p and not _strings(p[name]):
                problems.append(Diagnostic("/" + name, "must be an array of strings"))
        env = p.get("env", {})
        if not isinstance(env, dict):
            problems.append(Diagnostic("/env", "must be an object of strings"))
            env = {}
        for key, value in env.items():
            if not key or "=" in key or "\0" in key:
                problems.append(Diagnostic("/env/" + key, "a variable name must not be empty or contain = or NUL"))
            elif not isinstance(value, str):
                problems.append(Diagnostic("/env/" + key, "must be a string"))
        labels = p.get("labels", {})
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            problems.append(Diagnostic("/labels", "must be an object of strings"))
            labels = {}
        memory = p.get("memoryMB")
        if memory is not None and (not isinstance(memory, int) or isinstance(memory, bool) or memory < 4):
            problems.append(Diagnostic("/memoryMB", "must be an integer of at least 4"))
        cpus = p.get("cpus")
        if cpus is not None and (not isinstance(cpus, (int, float)) or isinstance(cpus, bool) or not math.isfinite(cpus) or cpus <= 0):
            problems.append(Diagnostic("/cpus", "must be a number above 0"))
        placement = p.get("placement")
        if placement is not None:
            problems.extend(validate(placement, self.params_schema, "/placement"))
        grace = p.get("stopGraceMs", 10000)
        if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
            problems.append(Diagnostic("/stopGraceMs", "must be an integer of at least 0"))
            grace = 10000
        auth = p.get("registryAuth")
        if auth is not None and not (isinstance(auth, dict) and isinstance(auth.get("username"), str) and isinstance(auth.get("password"), str)):
            problems.append(Diagnostic("/registryAuth", "must be {username, password}"))
        if problems:
            raise invalid_params("invalid job spec: " + "; ".join("%s: %s" % (d.path, d.message) for d in problems), *problems)
        return JobSpec(
            task_execution_id=p["taskExecutionId"], image=p["image"], command=p.get("command"), entrypoint=p.get("entrypoint"),
            env=dict(env), labels=dict(labels), cpus=float(cpus) if cpus is not None else None, memory_mb=memory,
            registry_auth=auth, placement=placement, stop_grace=grace / 1000.0)

    @staticmethod
    def _handle(p: Dict[str, Any]) -> str:
        handle = p.get("handle")
        if not isinstance(handle, str) or not handle:
            raise invalid_params("handle is required", Diagnostic("/params/handle", "required: a non-empty string"))
        return handle

    async def _start(self, p: Dict[str, Any], request: Any) -> Dict[str, Any]:
        return {"handle": await self.start(self._spec(p))}

    async def _inspect(self, p: Dict[str, Any], request: Any) -> Dict[str, Any]:
        handle = self._handle(p)
        status = await self.inspect(handle)
        if status is None:
            raise not_found("no job %s" % handle)
        return status.json()

    async def _wait(self, p: Dict[str, Any], request: Any) -> Dict[str, Any]:
        handle = self._handle(p)
        if await self.inspect(handle) is None:
            raise not_found("no job %s" % handle)
        return (await self.wait(handle)).json()

    async def _stop(self, p: Dict[str, Any], request: Any) -> Dict[str, Any]:
        handle = self._handle(p)
        grace = p.get("graceMs", 10000)
        grace = grace if isinstance(grace, int) and not isinstance(grace, bool) and grace >= 0 else 10000
        status = await self.inspect(handle)
        if status is not None and status.state != "exited":
            await self.stop(handle, grace / 1000.0)
        return {}

    async def _remove(self, p: Dict[str, Any], request: Any) -> Dict[str, Any]:
        handle = self._handle(p)
        status = await self.inspect(handle)
        if status is None:
            return {}
        if status.state == "running":
            raise failed_precondition("job %s is running: stop it first" % handle)
        await self.remove(handle)
        return {}

    async def _logs(self, p: Dict[str, Any], request: Request) -> Dict[str, Any]:
        handle = self._handle(p)
        if request.stream is None:
            raise invalid_params("scheduler/logs needs a stream: give _meta.stream", Diagnostic("/_meta/stream", "required"))
        if await self.inspect(handle) is None:
            raise not_found("no job %s" % handle)
        await self.logs(handle, LogSink(request), p.get("follow") is True)
        return {}

    async def _list(self, p: Dict[str, Any], request: Any) -> Dict[str, Any]:
        labels = p.get("labels", {})
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise invalid_params("labels must be an object of strings", Diagnostic("/params/labels", "an object of strings"))
        return {"jobs": [s.json() for s in await self.list(dict(labels))]}
