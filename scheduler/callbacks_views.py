"""Plain read models of the callback queue, and the events its changes emit (inside the
transaction of the change, as `scheduler/events.py` does for bookings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from scheduler.callbacks_models import CallbackRequest
from scheduler.callbacks_rules import Window


def windows_of(stored: list[dict[str, str]]) -> tuple[Window, ...]:
    return tuple(
        (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"])) for w in stored
    )


def stored_windows(windows: list[Window]) -> list[dict[str, str]]:
    return [{"start": s.isoformat(), "end": e.isoformat()} for s, e in windows]


@dataclass(frozen=True, slots=True)
class CallbackInfo:
    id: int
    reference: str
    service_id: int
    service_name: str
    status: str
    name: str
    phone: str
    email: str | None
    language: str
    note: str
    windows: tuple[Window, ...]
    due_at: datetime
    attempts: int
    claimed_by_id: int | None
    claimed_by_name: str | None
    claimed_at: datetime | None
    booking_id: int | None
    token_version: int
    created_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(
        cls, row: CallbackRequest, service_name: str, claimed_by_name: str | None
    ) -> CallbackInfo:
        return cls(
            id=row.id,
            reference=row.reference,
            service_id=row.service_id,
            service_name=service_name,
            status=row.status,
            name=row.name,
            phone=row.phone,
            email=row.email,
            language=row.language,
            note=row.note,
            windows=windows_of(row.windows),
            due_at=row.due_at,
            attempts=row.attempts,
            claimed_by_id=row.claimed_by_id,
            claimed_by_name=claimed_by_name,
            claimed_at=row.claimed_at,
            booking_id=row.booking_id,
            token_version=row.token_version,
            created_at=row.created_at,
            closed_at=row.closed_at,
        )


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the queue: its requests, and how many the whole (filtered) queue holds."""

    items: tuple[CallbackInfo, ...]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


class CallbackEventKind(StrEnum):
    RECEIVED = "received"  # a new request: its confirmation, with the link to withdraw
    GIVEN_UP = "given_up"  # closed after the failed attempts, or a wrong number


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    kind: CallbackEventKind
    callback: CallbackInfo
    at: datetime


CallbackListener = Callable[[Session, CallbackEvent], None]
