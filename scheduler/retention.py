"""Erasing personal data once its retention period has passed (DSGVO Art. 5(1)(e), 17).

A booking keeps the citizen's data for `retention` after its appointment ended, or after it
was cancelled if that came first. Then its personal fields are blanked; what statistics need
(service, advisor, times, channel, status, outcome) stays. Everything else that links to the
citizen goes with it: each package names its own records as `Eraser`s (the outbox in
notifications/retention.py, rooms and invitations in rooms/retention.py), since this package
imports none of ours.

The run is idempotent and works in bounded batches, one transaction each, so that a first run
over years of data never holds the (SQLite) write lock for long.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from scheduler.db import forget_freed, read_session, utcnow, write_session
from scheduler.models import (
    Absence,
    AuditEntry,
    Booking,
    BookingStatus,
    IdempotencyRecord,
    LoginFailure,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# A hold lives for minutes; the hour after it ran out leaves any transaction that claimed it
# just in time to finish before the row goes.
HOLD_GRACE = timedelta(hours=1)
# Failed staff logins only feed the 15-minute login throttle; a day leaves time to look into
# an attack the morning after.
LOGIN_FAILURE_RETENTION = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The daily run's longest sleep: a clock that jumps (a suspended host) is noticed this late.
LONGEST_SLEEP = 60.0


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What is older than these moments is due."""

    personal: datetime
    holds: datetime
    login_failures: datetime
    # A citizen's erasure: exactly these bookings' records, whatever their age, and nothing
    # that counts from a moment of its own (the moments above are all long past).
    bookings: tuple[int, ...] | None = None

    @classmethod
    def at(cls, now: datetime, retention: timedelta) -> Cutoffs:
        return cls(
            personal=now - retention,
            holds=now - HOLD_GRACE,
            login_failures=now - LOGIN_FAILURE_RETENTION,
        )

    @classmethod
    def only(cls, booking_ids: Sequence[int]) -> Cutoffs:
        return cls(EPOCH, EPOCH, EPOCH, tuple(booking_ids))


def due_bookings(cutoffs: Cutoffs) -> Select[Any]:
    """The ids of the bookings whose retention has passed (holds are never among them)."""
    if cutoffs.bookings is not None:
        return select(Booking.id).where(
            Booking.status != BookingStatus.HELD, Booking.id.in_(cutoffs.bookings)
        )
    return select(Booking.id).where(
        Booking.status != BookingStatus.HELD,
        or_(
            Booking.end_at <= cutoffs.personal,
            and_(Booking.cancelled_at.is_not(None), Booking.cancelled_at <= cutoffs.personal),
        ),
    )


Apply = Callable[[Session, Sequence[Any]], int]


@dataclass(frozen=True)
class Eraser:
    """One kind of record: which rows are due, and what erasing them means (by default:
    deleting them). `due` must stop matching a row once it is erased, which makes a run
    idempotent and lets the batches end."""

    name: str
    key: InstrumentedAttribute[Any]
    due: Callable[[Cutoffs], ColumnElement[bool]]
    apply: Apply | None = None

    def erase(self, session: Session, keys: Sequence[Any]) -> int:
        if self.apply is not None:
            return self.apply(session, keys)
        statement = delete(self.key.class_).where(self.key.in_(keys))
        result = session.execute(statement, execution_options={"synchronize_session": False})
        return int(result.rowcount)  # type: ignore[attr-defined]  # a DML Result is a CursorResult


def _still_personal() -> ColumnElement[bool]:
    return or_(
        Booking.name != "",
        Booking.email.is_not(None),
        Booking.email_key.is_not(None),
        Booking.phone.is_not(None),
        Booking.notes != "",
        Booking.interpreter_language.is_not(None),
        Booking.sign_language.is_(True),
        Booking.wheelchair_access.is_(True),
        Booking.search_key != "",
        Booking.staff_notes.is_not(None),
    )


def _anonymise(session: Session, ids: Sequence[Any]) -> int:
    # Neither `sequence` nor `token_version` moves, and no event is emitted: the citizen gets
    # no calendar update and no mail. `updated_at` keeps the last real change.
    statement = (
        update(Booking)
        .where(Booking.id.in_(ids))
        .values(
            name="",
            email=None,
            email_key=None,
            phone=None,
            notes="",
            interpreter_language=None,
            sign_language=False,
            wheelchair_access=False,
            search_key="",
            staff_notes=None,
            updated_at=Booking.updated_at,
        )
    )
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML Result is a CursorResult


def _clear_reason(session: Session, ids: Sequence[Any]) -> int:
    statement = update(Absence).where(Absence.id.in_(ids)).values(reason="")
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML Result is a CursorResult


BOOKINGS = Eraser(
    "bookings_anonymised",
    Booking.id,
    lambda c: and_(Booking.id.in_(due_bookings(c)), _still_personal()),
    _anonymise,
)
# Stored answers repeat the booking's name and e-mail. A key is stored when its booking is
# made, which is never after the booking's appointment ends or it is cancelled: erasing
# records at their creation plus the retention is never later than erasing the booking.
IDEMPOTENCY_RECORDS = Eraser(
    "idempotency_records_deleted",
    IdempotencyRecord.key,
    lambda c: IdempotencyRecord.created_at <= c.personal,
)
# Who of the staff looked at a booking is kept exactly as long as the booking's data. An
# entry whose booking is gone (a deleted hold) counts from its own time.
AUDIT_ENTRIES = Eraser(
    "audit_entries_deleted",
    AuditEntry.id,
    lambda c: or_(
        AuditEntry.booking_id.in_(due_bookings(c)),
        and_(AuditEntry.booking_id.is_(None), AuditEntry.at <= c.personal),
    ),
)
EXPIRED_HOLDS = Eraser(
    "expired_holds_deleted",
    Booking.id,
    lambda c: and_(Booking.status == BookingStatus.HELD, Booking.hold_expires_at <= c.holds),
)
LOGIN_FAILURES = Eraser(
    "login_failures_deleted",
    LoginFailure.id,
    lambda c: LoginFailure.at <= c.login_failures,
)
# The reason of a staff member's absence may say more than it should ("Arzttermin"); the
# absence itself stays, as the hours that were not available.
ABSENCE_REASONS = Eraser(
    "absence_reasons_cleared",
    Absence.id,
    lambda c: and_(Absence.end_at <= c.personal, Absence.reason != ""),
    _clear_reason,
)

ERASERS = (
    BOOKINGS,
    IDEMPOTENCY_RECORDS,
    AUDIT_ENTRIES,
    EXPIRED_HOLDS,
    LOGIN_FAILURES,
    ABSENCE_REASONS,
)


class Sweep(Protocol):
    """Erasing that is more than rows of one transaction (documents: records, then their bytes
    in a store of their own) with a retention of its own; run before the erasers."""

    name: str

    def sweep(self, now: datetime, dry_run: bool, stop: threading.Event | None = None) -> int:
        """Erase what is due at `now` (or count it); how many."""

    def erase_bookings(self, booking_ids: Sequence[int]) -> int:
        """Erase what belongs to these bookings now; how many."""


class Retention:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        retention: timedelta,
        erasers: Sequence[Eraser],
        clock: Callable[[], datetime] = utcnow,
        batch_size: int = BATCH_SIZE,
        sweeps: Sequence[Sweep] = (),
    ) -> None:
        names = [eraser.name for eraser in erasers] + [sweep.name for sweep in sweeps]
        if len(set(names)) != len(names):
            raise ValueError(f"eraser names must be unique: {names}")
        self._sessions = sessions
        self._retention = retention
        self._erasers = tuple(erasers)
        self._sweeps = tuple(sweeps)
        self._clock = clock
        self._batch_size = batch_size

    def purge(self, dry_run: bool = False, stop: threading.Event | None = None) -> dict[str, int]:
        """Erase what is due now; return how many records of each kind were (or, with
        `dry_run`, would be) erased. A set `stop` ends the run after the current batch."""
        now = self._clock()
        cutoffs = Cutoffs.at(now, self._retention)
        counts = {sweep.name: sweep.sweep(now, dry_run, stop) for sweep in self._sweeps}
        if dry_run:
            with read_session(self._sessions) as session:
                return counts | {e.name: self._count(session, e, cutoffs) for e in self._erasers}
        counts |= {e.name: self._erase_all(e, cutoffs, stop) for e in self._erasers}
        forget_freed(self._sessions)
        return counts

    def erase_bookings(self, booking_ids: Sequence[int]) -> dict[str, int]:
        """Erase these bookings' personal data and what links to them now, as the purge will
        once they are due: a citizen's request (DSGVO Art. 17). The counts, as `purge`."""
        cutoffs = Cutoffs.only(booking_ids)
        counts = {sweep.name: sweep.erase_bookings(booking_ids) for sweep in self._sweeps}
        counts |= {e.name: self._erase_all(e, cutoffs, None) for e in self._erasers}
        forget_freed(self._sessions)
        return counts

    @staticmethod
    def _count(session: Session, eraser: Eraser, cutoffs: Cutoffs) -> int:
        return session.scalar(select(func.count(eraser.key)).where(eraser.due(cutoffs))) or 0

    def _erase_all(self, eraser: Eraser, cutoffs: Cutoffs, stop: threading.Event | None) -> int:
        total = 0
        while stop is None or not stop.is_set():
            with write_session(self._sessions) as session:
                # Each process of a deployment runs the purge at the same time: on PostgreSQL
                # they share out the rows instead of waiting on (or deadlocking over) each
                # other's. SQLite has one writer anyway and ignores the clause.
                keys: Sequence[object] = session.scalars(
                    select(eraser.key)
                    .where(eraser.due(cutoffs))
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                ).all()
                if keys:
                    total += eraser.erase(session, keys)
            if len(keys) < self._batch_size:
                break
        return total


class DailyPurge:
    """A daemon thread that runs the purge once a day at a local time of day."""

    def __init__(
        self,
        retention: Retention,
        at: time,
        timezone: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._retention = retention
        self._at = at
        self._zone = ZoneInfo(timezone)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def next_run(self, after: datetime) -> datetime:
        local = after.astimezone(self._zone)
        day = local.date()
        candidate = datetime.combine(day, self._at, self._zone)
        if candidate <= local:
            candidate = datetime.combine(day + timedelta(days=1), self._at, self._zone)
        return candidate.astimezone(UTC)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="retention-purge", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        due = self.next_run(self._clock())
        while not self._stop.is_set():
            now = self._clock()
            if now >= due:
                try:
                    counts = self._retention.purge(stop=self._stop)
                    log.info("retention purge done: %s", counts)
                except Exception:  # the next day's run must still happen
                    log.exception("retention purge failed; next try tomorrow")
                due = self.next_run(now)
                continue
            self._stop.wait(min(LONGEST_SLEEP, (due - now).total_seconds()))
