"""Triggers (§10.1): override `watch`, a coroutine per subscription that emits events."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any, Dict, List, Optional, Tuple

from . import _wire
from .errors import Code, Diagnostic, ProtocolError, invalid_params
from .extension import ParamsChecked


class Subscription:
    """One pipeline's use of the trigger: its `params` (validated), and `emit` to start a run."""

    def __init__(self, trigger: "Trigger", subscription_id: str, params: Dict[str, Any], cursor: Optional[str]) -> None:
        self._trigger = trigger
        self.id = subscription_id
        self.params = params
        #: Where the last acknowledged event left off (from `emit(cursor=…)`), after a restart.
        self.cursor = cursor

    async def emit(self, variables: Dict[str, str], event_id: Optional[str] = None, cursor: Optional[str] = None) -> Optional[int]:
        """Starts a run: returns once the host has stored the event (the run's number, if given).

        Sent again with backoff while the host is unavailable; the host drops duplicates of an
        `event_id`, so give a stable one when the event has one (a webhook delivery id).
        Raises ProtocolError NOT_FOUND when the host no longer has the subscription (stop then).
        """
        params: Dict[str, Any] = {
            "subscriptionId": self.id, "eventId": event_id or uuid.uuid4().hex,
            "occurredAt": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "variables": {str(k): str(v) for k, v in variables.items()},
        }
        if cursor is not None:
            params["cursor"] = cursor
        delay = 0.5
        while True:
            try:
                result = await self._trigger._conn.request("trigger/emit", params)
                if cursor is not None:
                    self.cursor = cursor
                run = result.get("run")
                return run if isinstance(run, int) else None
            except ProtocolError as e:
                if not e.retryable:
                    raise
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)


class Trigger(ParamsChecked):
    """A trigger: `watch(subscription)` runs while a pipeline subscribes and calls `emit`.

    ```python
    class Every(Trigger):
        name = "every"
        params_schema = {"type": "object", "additionalProperties": False, "required": ["seconds"],
                         "properties": {"seconds": {"type": "number", "minimum": 1}}}
        async def watch(self, sub):
            while True:
                await asyncio.sleep(sub.params["seconds"])
                await sub.emit({"TICK": "1"})
    serve(Every())
    ```
    One emit is in flight per subscription (each awaits the host). The SDK cancels `watch` on
    unsubscribe and at shutdown. A webhook trigger also overrides `external` and sets `accepts_webhooks`.
    """

    kind = "trigger"
    #: Advertise the `external` capability: `POST /api/external/{name}` reaches `external`.
    accepts_webhooks = False

    async def watch(self, subscription: Subscription) -> None:
        raise NotImplementedError

    async def external(self, headers: Dict[str, str], body: bytes) -> Tuple[int, str]:
        """A forwarded webhook: answer (HTTP status, body). Emit through `self.subscriptions`."""
        raise ProtocolError(Code.NOT_SUPPORTED, "this trigger takes no webhooks")

    def capabilities(self) -> Dict[str, Any]:
        return {"external": {}} if self.accepts_webhooks else {}

    @property
    def subscriptions(self) -> Dict[str, Subscription]:
        """Every current subscription, by id."""
        return {k: s for k, (s, _) in self._subs.items()}

    def _handlers(self) -> Dict[str, Any]:
        if not hasattr(self, "_subs"):
            self._subs: Dict[str, Tuple[Subscription, "asyncio.Task[None]"]] = {}
        handlers = {**super()._handlers(), "trigger/validate": self._validate, "trigger/subscribe": self._subscribe, "trigger/unsubscribe": self._unsubscribe}
        if self.accepts_webhooks:
            handlers["trigger/external"] = self._external
        return handlers

    async def _subscribe(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        sub_id = params.get("subscriptionId")
        if not isinstance(sub_id, str) or not sub_id:
            raise invalid_params("subscriptionId is required", Diagnostic("/params/subscriptionId", "required: a non-empty string"))
        given = await self._checked(params.get("params", {}))
        cursor = params.get("cursor") if isinstance(params.get("cursor"), str) else None
        await self._stop(sub_id)
        subscription = Subscription(self, sub_id, dict(given), cursor)
        self._subs[sub_id] = (subscription, self._conn.spawn(self._watching(subscription)))
        return {}

    async def _watching(self, subscription: Subscription) -> None:
        try:
            await self.watch(subscription)
        except asyncio.CancelledError:
            raise
        except ProtocolError as e:
            if e.code == Code.NOT_FOUND:
                self.log("the host no longer has subscription %s: stopped" % subscription.id)
            else:
                self.log("subscription %s stopped: %s" % (subscription.id, e.message), level="error")
        except Exception as e:
            self.log("subscription %s stopped: %s: %s" % (subscription.id, type(e).__name__, e), level="error")

    async def _stop(self, sub_id: str) -> None:
        entry = self._subs.pop(sub_id, None)
        if entry is not None:
            entry[1].cancel()
            await asyncio.gather(entry[1], return_exceptions=True)

    async def _unsubscribe(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        sub_id = params.get("subscriptionId")
        if isinstance(sub_id, str):
            await self._stop(sub_id)
        return {}

    async def _external(self, params: Dict[str, Any], request: Any) -> Dict[str, Any]:
        import base64

        headers = _wire.obj(params.get("headers"))
        try:
            body = base64.b64decode(str(params.get("bodyB64", "")), validate=True)
        except ValueError:
            raise invalid_params("bodyB64 is not base64", Diagnostic("/params/bodyB64", "not base64")) from None
        status, text = await self.external({str(k).lower(): str(v) for k, v in headers.items()}, body)
        return {"status": status, "body": text}

    async def close(self) -> None:
        for sub_id in list(getattr(self, "_subs", {})):
            await self._stop(sub_id)
