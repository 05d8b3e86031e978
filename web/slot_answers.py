"""The JSON of a slot search, made once for each answer the scheduler keeps.

While a service's free times are kept (`scheduler.slot_cache`), every search in that moment
gets the same list; turning its hundreds of times into JSON again for each of a thousand
citizens would cost more than finding them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from zoneinfo import ZoneInfo

from scheduler.availability import Slot
from web.schemas import SlotOut, SlotsOut

# Answers kept: a few per service and channel; each also keeps its list alive, so that an
# id is never reused while it is a key here.
MAX_KEPT = 64


class SlotAnswers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: OrderedDict[int, tuple[list[Slot], bytes]] = OrderedDict()

    def body(self, found: list[Slot], timezone: str, tz: ZoneInfo) -> bytes:
        with self._lock:
            made = self._made.get(id(found))
        if made is not None and made[0] is found:
            return made[1]
        answer = SlotsOut(
            timezone=timezone,
            slots=[
                SlotOut(
                    start=s.start.astimezone(tz).isoformat(), end=s.end.astimezone(tz).isoformat()
                )
                for s in found
            ],
        )
        body = answer.model_dump_json().encode()
        with self._lock:
            self._made[id(found)] = (found, body)
            while len(self._made) > MAX_KEPT:
                self._made.popitem(last=False)
        return body
