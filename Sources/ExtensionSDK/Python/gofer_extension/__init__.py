"""Gofer extensions in Python, standard library only.

One class per kind — `Trigger`, `CommonTask`, `Scheduler`, `SecretStore` — and `serve(instance)`:
the SDK speaks the protocol (docs/protocol.md): framing and strict JSON, the handshake, `--describe`,
config and params checked against your schemas, deadlines and `$/cancel` as cancellation of your
coroutine, concurrency limits, streams with credit, host calls, shutdown. See docs/extensions-python.md.
"""

from .errors import Code, Diagnostic, ProtocolError, failed_precondition, invalid_params, not_found, unavailable
from .extension import NO_FIELDS, Extension, Objects, ParamsChecked, run_sync, serve
from .scheduler import CommandFailed, JobSpec, JobStatus, LogSink, Scheduler, command
from .secrets import SecretStore
from .task import CommonTask, Job, Outcome, failure, success
from .trigger import Subscription, Trigger

__all__ = [
    "Code", "Diagnostic", "ProtocolError", "failed_precondition", "invalid_params", "not_found", "unavailable",
    "NO_FIELDS", "Extension", "Objects", "ParamsChecked", "run_sync", "serve",
    "CommandFailed", "JobSpec", "JobStatus", "LogSink", "Scheduler", "command",
    "SecretStore",
    "CommonTask", "Job", "Outcome", "failure", "success",
    "Subscription", "Trigger",
]
