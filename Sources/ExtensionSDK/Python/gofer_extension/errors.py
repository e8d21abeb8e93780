"""Errors an extension answers with (docs/protocol.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from . import _wire
from typing import Any, Dict, List, Optional, Sequence


class Code(IntEnum):
    """Every error code of the protocol."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    UNSUPPORTED_VERSION = -32000
    NOT_INITIALIZED = -32001
    ALREADY_INITIALIZED = -32002
    SHUTTING_DOWN = -32003
    NOT_SUPPORTED = -32004
    FRAME_TOO_LARGE = -32005
    STREAM_VIOLATION = -32006
    CANCELLED = -32050
    DEADLINE_EXCEEDED = -32051
    INVALID_CONFIG = -32052
    NOT_FOUND = -32053
    CONFLICT = -32054
    PERMISSION_DENIED = -32055
    UNAVAILABLE = -32056
    RESOURCE_EXHAUSTED = -32057
    FAILED_PRECONDITION = -32058


#: Codes whose requests may succeed when sent again later.
RETRYABLE = {Code.SHUTTING_DOWN, Code.DEADLINE_EXCEEDED, Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED}


@dataclass(frozen=True)
class Diagnostic:
    """One problem with a request or a config: `path` is a JSON Pointer (`/params/every`)."""

    path: str
    message: str
    severity: str = "error"

    def json(self) -> Dict[str, Any]:
        return {"severity": self.severity, "path": self.path, "message": self.message}


class ProtocolError(Exception):
    """An error answer: raise it from a handler and the SDK sends it as the request's answer.

    `reason` defaults to the code's name (`NOT_FOUND`); give a dotted one for your own cases
    (`docker.name_conflict`). `retryable` defaults to what the code means.
    """

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        diagnostics: Sequence[Diagnostic] = (),
        reason: Optional[str] = None,
        retryable: Optional[bool] = None,
        retry_after_ms: Optional[int] = None,
        **data: Any,
    ) -> None:
        super().__init__(message)
        self.code = Code(code) if code in Code._value2member_map_ else code
        self.message = message
        self.diagnostics: List[Diagnostic] = list(diagnostics)
        self.reason = reason or (Code(code).name if code in Code._value2member_map_ else "ERROR")
        self.retryable = (code in RETRYABLE) if retryable is None else retryable
        self.retry_after_ms = retry_after_ms
        self.data = data

    def json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"reason": self.reason, "retryable": self.retryable, **self.data}
        if self.diagnostics:
            data["diagnostics"] = [d.json() for d in self.diagnostics]
        if self.retry_after_ms is not None:
            data["retryAfterMs"] = self.retry_after_ms
        return {"code": int(self.code), "message": self.message, "data": data}

    @classmethod
    def from_json(cls, error: Any) -> "ProtocolError":
        """An error answer received from the host."""
        if not isinstance(error, dict):
            return cls(Code.INTERNAL_ERROR, "the host answered an error that is not an object: %r" % (error,))
        data = _wire.obj(error.get("data"))
        code = error.get("code") if isinstance(error.get("code"), int) else int(Code.INTERNAL_ERROR)
        return cls(
            code,  # type: ignore[arg-type]
            str(error.get("message", "")),
            reason=str(data.get("reason") or "ERROR"),
            retryable=bool(data.get("retryable", False)),
            retry_after_ms=data.get("retryAfterMs") if isinstance(data.get("retryAfterMs"), int) else None,
        )


def invalid_params(message: str, *diagnostics: Diagnostic) -> ProtocolError:
    """-32602 with diagnostics (`Diagnostic("/params/every", "must be at least 1s")`)."""
    return ProtocolError(Code.INVALID_PARAMS, message, diagnostics=diagnostics)


def not_found(message: str) -> ProtocolError:
    """-32053: the handle, secret or thing asked for does not exist."""
    return ProtocolError(Code.NOT_FOUND, message)


def unavailable(message: str, retry_after_ms: Optional[int] = None) -> ProtocolError:
    """-32056, retryable: the backend does not answer right now."""
    return ProtocolError(Code.UNAVAILABLE, message, retry_after_ms=retry_after_ms)


def failed_precondition(message: str, reason: Optional[str] = None) -> ProtocolError:
    """-32058: not in a state that allows it (removing a running job; `scheduler.job_lost`)."""
    return ProtocolError(Code.FAILED_PRECONDITION, message, reason=reason)
