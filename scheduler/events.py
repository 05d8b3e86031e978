"""What happened to a booking, told to listeners inside the transaction that did it.

The booking engine knows nothing of e-mail; `notifications` registers a listener that writes
its outbox rows in the same transaction, so a change and its messages are committed together
or not at all (the transactional outbox).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from scheduler.views import BookingInfo


class BookingEventKind(StrEnum):
    CREATED = "created"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    LINK_REISSUED = "link_reissued"


@dataclass(frozen=True, slots=True)
class BookingEvent:
    kind: BookingEventKind
    booking: BookingInfo  # as it is after the change, inside the transaction
    at: datetime
    previous_start: datetime | None = None
    actor_id: int | None = None


Listener = Callable[[Session, BookingEvent], None]


class EventHub:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, session: Session, event: BookingEvent) -> None:
        for listener in self._listeners:
            listener(session, event)
