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
    # Staff sent the confirmation once more (lost or deleted mail); nothing changed.
    CONFIRMATION_RESENT = "confirmation_resent"


@dataclass(frozen=True, slots=True)
class BookingEvent:
    kind: BookingEventKind
    booking: BookingInfo  # as it is after the change, inside the transaction
    at: datetime
    previous_start: datetime | None = None
    actor_id: int | None = None
    # Why the office changed it, when it did so on its own: "absence" or "closure" (a booking
    # moved to a colleague or cancelled by scheduler/displacement.py); None for everything else.
    cause: str | None = None


Listener = Callable[[Session, BookingEvent], None]


class EventHub:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, session: Session, event: BookingEvent) -> None:
        for listener in self._listeners:
            listener(session, event)
