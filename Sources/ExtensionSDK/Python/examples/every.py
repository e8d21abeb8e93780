"""A trigger that starts a run every few seconds, numbering its ticks across restarts (its cursor)."""
import asyncio
from gofer_extension import Subscription, Trigger, serve

class Every(Trigger):
    name, summary = "py-every", "Starts a run every few seconds (Python example)."
    params_schema = {"type": "object", "additionalProperties": False, "required": ["seconds"],
                     "properties": {"seconds": {"type": "number", "minimum": 0.1, "maximum": 86400}}}
    async def watch(self, sub: Subscription) -> None:
        tick = int(sub.cursor or 0)
        while True:
            await asyncio.sleep(sub.params["seconds"])
            tick += 1
            await sub.emit({"TICK": str(tick)}, event_id="%s-%d" % (sub.id, tick), cursor=str(tick))

serve(Every())
