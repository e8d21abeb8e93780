"""Common tasks (§10.2): override `run`; print output with `job.print`, return `success` or `failure`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ._connection import Request
from . import _wire
from .errors import Diagnostic, invalid_params
from .extension import ParamsChecked


@dataclass
class Outcome:
    """How a task ended: `status` is "success" or "failure"; `outputs` are NAME → value."""

    status: str
    summary: Optional[str] = None
    outputs: Dict[str, str] = field(default_factory=dict)


def success(summary: Optional[str] = None, **outputs: str) -> Outcome:
    return Outcome("success", summary, dict(outputs))


def failure(summary: str, **outputs: str) -> Outcome:
    return Outcome("failure", summary, dict(outputs))


class Job:
    """One call of the task: its validated `params`, the run's `variables`, `hook` when called as a
    pipeline hook (`{"phase": …, "run": {…}}`), and `idempotency_key` (the same on a retried call)."""

    def __init__(self, params: Dict[str, Any], variables: Dict[str, str], hook: Optional[Dict[str, Any]], request: Request) -> None:
        self.params = params
        self.variables = variables
        self.hook = hook
        self.idempotency_key = request.idempotency_key
        self._request = request

    async def print(self, *parts: Any, stderr: bool = False) -> None:
        """A line of the task's output (what `gofer task logs` shows)."""
        text = " ".join(str(p) for p in parts) + "\n"
        if self._request.stream is not None:
            await self._request.stream.write(text, fd="stderr" if stderr else "stdout")


class CommonTask(ParamsChecked):
    """A common task (a step or a hook of a pipeline).

    ```python
    class Hello(CommonTask):
        name = "hello"
        params_schema = {"type": "object", "additionalProperties": False,
                         "properties": {"who": {"type": "string"}}}
        async def run(self, job):
            await job.print("hello,", job.params.get("who", "world"))
            return success("greeted")
    serve(Hello())
    ```
    """

    kind = "task"

    async def run(self, job: Job) -> Outcome:
        raise NotImplementedError

    def _handlers(self) -> Dict[str, Any]:
        return {**super()._handlers(), "task/validate": self._validate, "task/run": self._run}

    async def _run(self, params: Dict[str, Any], request: Request) -> Dict[str, Any]:
        given = await self._checked(params.get("params", {}))
        raw = _wire.obj(params.get("variables"))
        hook = params.get("hook") if isinstance(params.get("hook"), dict) else None
        outcome = await self.run(Job(dict(given), {str(k): str(v) for k, v in raw.items()}, hook, request))
        result: Dict[str, Any] = {"status": outcome.status, "outputs": outcome.outputs}
        if outcome.summary is not None:
            result["summary"] = outcome.summary
        return result
