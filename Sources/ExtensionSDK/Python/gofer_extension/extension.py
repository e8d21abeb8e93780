"""What every kind of extension shares: identity, schemas, config, the host's objects, logging, serving."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar, Dict, List, Optional

from .errors import Code, Diagnostic, ProtocolError, invalid_params
from .schema import validate

if TYPE_CHECKING:
    from ._connection import Connection, Handler

#: A schema for "no settings": an object with no fields, unknown ones refused.
NO_FIELDS: Dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}


class Objects:
    """The extension's own objects, kept by the host across restarts and upgrades (§10.5)."""

    def __init__(self, conn: "Connection") -> None:
        self._conn = conn

    async def get(self, key: str) -> Optional[bytes]:
        """The object's bytes, or None when there is none."""
        try:
            result = await self._conn.request("objects/get", {"key": key})
        except ProtocolError as e:
            if e.code == Code.NOT_FOUND:
                return None
            raise
        if isinstance(result.get("value"), str):
            return str(result["value"]).encode("utf-8")
        return base64.b64decode(str(result.get("valueB64", "")))

    async def put(self, key: str, value: "bytes | str") -> None:
        """Stores `value` under `key`, replacing what was there."""
        raw = value.encode("utf-8") if isinstance(value, str) else value
        try:
            await self._conn.request("objects/put", {"key": key, "value": raw.decode("utf-8")})
        except UnicodeDecodeError:
            await self._conn.request("objects/put", {"key": key, "valueB64": base64.b64encode(raw).decode("ascii")})

    async def delete(self, key: str) -> None:
        await self._conn.request("objects/delete", {"key": key})

    async def list(self) -> List[str]:
        result = await self._conn.request("objects/list", {})
        return [str(k) for k in result.get("keys", [])]


class Extension:
    """The base of every kind: subclass `Trigger`, `CommonTask`, `Scheduler` or `SecretStore`.

    Set `name` (lower-case letters, digits, dashes), `version`, `summary`, and the JSON Schemas
    `config_schema` (what the admin sets at install) and `params_schema` (what a pipeline sets per
    use); both are checked by the SDK before your code sees a value. Override `setup` to connect to
    your backend once the admin config is known, and `health` to say whether you can work now.
    """

    kind: ClassVar[str] = ""
    name: str = "unnamed"
    version: str = "0.1.0"
    summary: str = ""
    config_schema: Dict[str, Any] = NO_FIELDS
    params_schema: Dict[str, Any] = NO_FIELDS
    max_concurrent_requests: int = 64
    max_concurrent_watches: int = 4096

    #: The admin config (validated against `config_schema`), set before `setup` runs.
    config: Dict[str, Any]
    #: Facts Gofer sets (host URL, paths …); never secrets.
    system: Dict[str, Any]
    #: A directory this extension owns across restarts (`paths.state`), or None.
    state_dir: Optional[str]
    #: Scratch space (`paths.tmp`), or None.
    tmp_dir: Optional[str]
    #: The host's object store for this extension.
    objects: Objects

    def _bind(self, conn: "Connection", admin: Dict[str, Any], system: Dict[str, Any], paths: Dict[str, Any]) -> None:
        self._conn = conn
        self.config = admin
        self.system = system
        self.state_dir = paths.get("state") if isinstance(paths.get("state"), str) else None
        self.tmp_dir = paths.get("tmp") if isinstance(paths.get("tmp"), str) else None
        self.objects = Objects(conn)

    async def setup(self) -> None:
        """Called once after `initialize` with `self.config` set. Raise ProtocolError to refuse."""

    async def health(self) -> Dict[str, Any]:
        """`{"status": "healthy" | "degraded" | "unhealthy", "detail": "…"}`."""
        return {"status": "healthy"}

    async def close(self) -> None:
        """Called at `shutdown`, after the requests in flight ended (or were cancelled)."""

    def capabilities(self) -> Dict[str, Any]:
        """Optional features this extension offers (§11), e.g. `{"external": {}}`."""
        return {}

    def log(self, message: str, level: str = "info", **fields: Any) -> None:
        """One JSON line on stderr — the extension's log (`gofer extension logs`). Never log secrets."""
        line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level, "msg": message, **fields}
        sys.stderr.write(json.dumps(line, default=str) + "\n")
        sys.stderr.flush()

    def manifest(self) -> Dict[str, Any]:
        """What `--describe` prints; the same as the handshake says."""
        from ._connection import PROTOCOL_VERSIONS, SDK

        return {
            "name": self.name, "kind": self.kind, "version": self.version, "summary": self.summary,
            "protocolVersions": PROTOCOL_VERSIONS, "capabilities": self.capabilities(),
            "configSchema": self.config_schema, "paramsSchema": self.params_schema, "sdk": SDK,
        }

    def _handlers(self) -> Dict[str, "Handler"]:
        """The methods of this kind, by name."""
        return {"health": self._health}

    async def _health(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        return await self.health()


class ParamsChecked(Extension):
    """A kind whose every use carries params (a trigger's settings, a task's inputs): checked
    against `params_schema` first, then by `validate_params`, for `…/validate` and for each use."""

    async def validate_params(self, params: Dict[str, Any]) -> List[Diagnostic]:
        """Checks beyond the params schema (which the SDK checks first); paths start with /params."""
        return []

    async def _problems(self, params: Any) -> List[Diagnostic]:
        problems = validate(params, self.params_schema, "/params")
        if not problems and isinstance(params, dict):
            problems = await self.validate_params(params)
        return problems

    async def _validate(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        return {"diagnostics": [d.json() for d in await self._problems(params.get("params", {}))]}

    async def _checked(self, given: Any) -> Dict[str, Any]:
        """`given` as valid params, or -32602 naming every problem."""
        problems = await self._problems(given)
        if problems:
            raise invalid_params("invalid params: " + "; ".join("%s: %s" % (d.path, d.message) for d in problems), *problems)
        return dict(given)


def serve(extension: Extension) -> None:
    """Runs `extension`: `--describe` prints its manifest; otherwise it speaks the protocol on
    stdin/stdout until the host says `exit` or goes away, and exits with the protocol's code."""
    from ._connection import Connection

    # Frames go to the real stdout; whatever a library prints lands on stderr instead.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    if sys.argv[1:] == ["--describe"]:
        os.write(out_fd, (json.dumps(extension.manifest(), separators=(",", ":")) + "\n").encode("utf-8"))
        sys.exit(0)
    if sys.argv[1:]:
        sys.stderr.write("usage: %s [--describe]\n" % os.path.basename(sys.argv[0]))
        sys.exit(2)
    if sys.stdin.isatty():
        sys.stderr.write("%s speaks Gofer's extension protocol on stdin/stdout: Gofer starts it (try --describe).\n" % extension.name)
        sys.exit(2)

    async def main() -> int:
        return await Connection(extension, out_fd).serve()

    code = asyncio.run(main())
    sys.stderr.flush()
    os._exit(code)


def run_sync(function: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Runs a blocking function in a thread, so the extension keeps answering meanwhile."""
    return asyncio.get_running_loop().run_in_executor(None, function, *args)
