"""Absences and closure days that hit booked appointments (issue 13).

When an advisor is away, each of their appointments in the absence goes to a colleague of the
same service who is free at the very same time (same reference, same links, the calendar
invite updated with a raised SEQUENCE); an appointment no colleague can take is cancelled, and
its citizen goes first in line on the service's waiting list (scheduler/waitlist_priority.py),
so the next free time that suits them is held for them before anyone else. On a closure day
the whole office is shut: every appointment that day is cancelled. Holds (a
citizen filling in the form) are moved the same way, or deleted. Appointments that have begun
are left alone.

`plan` is what the staff pages show before saving; `apply` runs in the transaction that
writes the absence or the closure (`scheduler.catalogue`), so the change and its moves,
cancellations and messages (`BookingEvent`s with a `cause`, written to the outbox by
`notifications`) are committed together or not at all.

Concurrency. On SQLite the write lock serialises everything. On PostgreSQL the entry takes
the placements' advisory lock exclusively (`placement.DISPLACEMENT_LOCK`; every placement and
reschedule holds it shared): it waits for the bookings in flight, reads every committed
booking, and no booking is placed against the calendars until it has committed. Two absences
entered at once are serialised on it, so a booking moved by the first is seen (and moved
again, or cancelled) by the second, never moved into an absence or lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from scheduler.availability import AdvisorCalendar
from scheduler.db import epoch, read_session
from scheduler.errors import Conflict
from scheduler.events import BookingEvent, BookingEventKind
from scheduler.models import AuditEntry, Booking, BookingStatus, Staff
from scheduler.placement import DISPLACEMENT_LOCK, Choice, Span, sweep_expired_holds
from scheduler.services import Scheduler
from scheduler.waitlist_priority import offer_displaced, put_first

CAUSE_ABSENCE = "absence"
CAUSE_CLOSURE = "closure"
_LIVE = (BookingStatus.HELD, BookingStatus.CONFIRMED)


class AffectedChanged(Conflict):
    """The appointments hit are no longer those shown before saving: show them again."""

    code = "affected_changed"


@dataclass(frozen=True, slots=True)
class Affected:
    """One appointment (or hold) in the way, and where it goes: `to_advisor_id` None means
    cancelled."""

    booking_id: int
    reference: str
    held: bool
    service_id: int
    service_name: str
    channel: str
    start: datetime
    end: datetime
    advisor_id: int
    citizen_name: str
    to_advisor_id: int | None = None
    to_advisor_name: str | None = None

    @property
    def moved(self) -> bool:
        return self.to_advisor_id is not None


@dataclass(frozen=True, slots=True)
class Displaced:
    """The plan (before saving) or the outcome (after) of one absence or closure day."""

    cause: str = CAUSE_ABSENCE
    items: tuple[Affected, ...] = field(default=())

    @property
    def appointments(self) -> list[Affected]:
        """The citizens' appointments, without the holds (staff never see those)."""
        return [item for item in self.items if not item.held]

    @property
    def moved(self) -> list[Affected]:
        return [item for item in self.appointments if item.moved]

    @property
    def cancelled(self) -> list[Affected]:
        return [item for item in self.appointments if not item.moved]

    @property
    def booking_ids(self) -> frozenset[int]:
        return frozenset(item.booking_id for item in self.appointments)


@dataclass(slots=True)
class _Day:
    """One service's calendars on one local day, with what this plan has given out."""

    calendars: list[AdvisorCalendar]
    run_out: dict[int, list[Span]]
    given: dict[int, list[Span]] = field(default_factory=dict)


class Displacement:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    # -- before saving ------------------------------------------------------------------------

    def preview_absence(self, staff_id: int, start: datetime, end: datetime) -> Displaced:
        with read_session(self._scheduler.sessions) as session:
            hits = self._hits(session, _absence_filter(staff_id, start, end), lock=False)
            return self.plan(session, hits, CAUSE_ABSENCE, absent=(staff_id, start, end))

    def preview_closure(self, day: date) -> Displaced:
        with read_session(self._scheduler.sessions) as session:
            hits = self._hits(session, self._day_filter(day), lock=False)
            return self.plan(session, hits, CAUSE_CLOSURE)

    # -- in the transaction that saves ---------------------------------------------------------

    def lock(self, session: Session) -> None:
        """Wait for the placements in flight and keep new ones out until commit (PostgreSQL)."""
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(*DISPLACEMENT_LOCK)))

    def absence_added(
        self,
        session: Session,
        staff_id: int,
        start: datetime,
        end: datetime,
        actor_id: int | None,
        expected: frozenset[int] | None = None,
    ) -> Displaced:
        """Move or cancel what the absence (already flushed) hits; see `apply`."""
        hits = self._hits(session, _absence_filter(staff_id, start, end), lock=True)
        return self._settle(session, hits, CAUSE_ABSENCE, actor_id, expected)

    def closure_added(
        self,
        session: Session,
        day: date,
        actor_id: int | None,
        expected: frozenset[int] | None = None,
    ) -> Displaced:
        hits = self._hits(session, self._day_filter(day), lock=True)
        return self._settle(session, hits, CAUSE_CLOSURE, actor_id, expected)

    def _settle(
        self,
        session: Session,
        hits: list[Booking],
        cause: str,
        actor_id: int | None,
        expected: frozenset[int] | None,
    ) -> Displaced:
        plan = self.plan(session, hits, cause)
        if expected is not None and plan.booking_ids != expected:
            raise AffectedChanged()
        self.apply(session, hits, plan, actor_id)
        return plan

    # -- the rule ------------------------------------------------------------------------------

    def plan(
        self,
        session: Session,
        hits: Sequence[Booking],
        cause: str,
        absent: tuple[int, datetime, datetime] | None = None,
    ) -> Displaced:
        """Where each hit goes: to the free colleague of its service with the fewest
        appointments that day (then the lowest id), taking the hits in time order so that one
        colleague never gets two at once; none on a closure day. `absent` is an absence not yet
        written (the preview), which its advisor's calendar must count."""
        now = self._scheduler.clock()
        days: dict[tuple[int, date], _Day] = {}
        names: dict[int, str] = {}
        items = []
        for booking in hits:
            target = None
            if cause == CAUSE_ABSENCE:
                target = self._colleague(session, booking, days, now, absent)
            if target is not None and target not in names:
                staff = session.get(Staff, target)
                names[target] = staff.name if staff else ""
            items.append(
                Affected(
                    booking_id=booking.id,
                    reference=booking.reference or "",
                    held=booking.status == BookingStatus.HELD,
                    service_id=booking.service_id,
                    service_name=booking.service.name,
                    channel=booking.channel,
                    start=booking.start_at,
                    end=booking.end_at,
                    advisor_id=booking.advisor_id,
                    citizen_name=booking.name,
                    to_advisor_id=target,
                    to_advisor_name=names.get(target) if target is not None else None,
                )
            )
        return Displaced(cause, tuple(items))

    def apply(
        self, session: Session, hits: Sequence[Booking], plan: Displaced, actor_id: int | None
    ) -> None:
        """Write the plan: move, cancel, or (holds) delete; one event and audit entry each."""
        now = self._scheduler.clock()
        for booking, item in zip(hits, plan.items, strict=True):
            if item.held:
                offer_displaced(session, booking.id, item.to_advisor_id, now)
            if item.held and not item.moved:
                session.delete(booking)
                continue
            if item.moved:
                assert item.to_advisor_id is not None
                self._move(session, booking, item.to_advisor_id, now)
            else:
                booking.status = BookingStatus.CANCELLED
                booking.cancelled_at = now
                booking.sequence += 1
            session.flush()
            if item.held:
                continue  # nobody to tell: the citizen is still filling in the form
            if not item.moved:
                put_first(session, booking, now)  # the next free time that suits is theirs
            info = self._scheduler.booking_info(session, booking.id)
            assert info is not None
            kind = BookingEventKind.RESCHEDULED if item.moved else BookingEventKind.CANCELLED
            self._scheduler.events.emit(
                session,
                BookingEvent(
                    kind,
                    info,
                    now,
                    previous_start=booking.start_at if item.moved else None,
                    actor_id=actor_id,
                    cause=plan.cause,
                ),
            )
            action = "displaced_moved" if item.moved else "displaced_cancelled"
            detail = f"{plan.cause}: advisor {item.advisor_id}"
            if item.moved:
                detail += f" -> {item.to_advisor_id}"
            session.add(
                AuditEntry(
                    at=now, actor_id=actor_id, action=action, booking_id=booking.id, detail=detail
                )
            )
        session.flush()

    # -- internals -----------------------------------------------------------------------------

    def _move(self, session: Session, booking: Booking, target: int, now: datetime) -> None:
        # A hold of the colleague's that has run out still counts for the database constraint.
        run_out = self._run_out(session, booking, target, now)
        sweep_expired_holds(
            session, Choice(target, run_out), booking.start_at, booking.blocked_until, now
        )
        booking.advisor_id = target
        if booking.status == BookingStatus.CONFIRMED:
            booking.sequence += 1

    def _run_out(
        self, session: Session, booking: Booking, target: int, now: datetime
    ) -> list[Span]:
        rows = session.execute(
            select(epoch(Booking.start_at), epoch(Booking.blocked_until)).where(
                Booking.advisor_id == target,
                Booking.status == BookingStatus.HELD,
                Booking.hold_expires_at <= now,
                Booking.start_at < booking.blocked_until,
                Booking.blocked_until > booking.start_at,
            )
        )
        return [(int(s), int(e)) for s, e in rows]

    def _hits(self, session: Session, where: ColumnElement[bool], *, lock: bool) -> list[Booking]:
        """The live appointments and holds in the way that have not begun, in time order;
        holds that have run out are deleted (they are free already)."""
        now = self._scheduler.clock()
        query = (
            select(Booking)
            .where(where, Booking.status.in_(_LIVE), Booking.start_at > now)
            .order_by(Booking.start_at, Booking.id)
        )
        if lock:
            query = query.with_for_update(of=Booking)
        hits = []
        for booking in session.scalars(query).unique():
            run_out = booking.status == BookingStatus.HELD and (
                booking.hold_expires_at is None or booking.hold_expires_at <= now
            )
            if run_out:
                if lock:
                    session.delete(booking)
                continue
            hits.append(booking)
        return hits

    def _day_filter(self, day: date) -> ColumnElement[bool]:
        tz = self._scheduler.tz
        start = datetime.combine(day, time(), tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
        return (Booking.start_at < end) & (Booking.start_at >= start)

    def _colleague(
        self,
        session: Session,
        booking: Booking,
        days: dict[tuple[int, date], _Day],
        now: datetime,
        absent: tuple[int, datetime, datetime] | None,
    ) -> int | None:
        tz = self._scheduler.tz
        local_start = booking.start_at.astimezone(tz)
        key = (booking.service_id, local_start.date())
        if key not in days:
            run_out: dict[int, list[Span]] = {}
            calendars = self._scheduler.placement.calendars(
                session, booking.service, key[1], key[1], now, None, run_out
            )
            days[key] = _Day(calendars, run_out)
        day = days[key]
        appointment = (int(booking.start_at.timestamp()), int(booking.end_at.timestamp()))
        occupied = (appointment[0], int(booking.blocked_until.timestamp()))
        day_start = datetime.combine(key[1], time(), tz)
        day_end = day_start + timedelta(days=1)
        candidates = []
        for calendar in day.calendars:
            advisor = calendar.advisor_id
            if advisor == booking.advisor_id:
                continue
            if absent is not None and advisor == absent[0]:
                continue
            if not _within_hours(calendar, booking.start_at, booking.end_at, tz):
                continue
            if _overlaps(calendar.absence_spans, appointment):
                continue
            if _overlaps(calendar.taken_spans, occupied):
                continue
            if _overlaps(day.given.get(advisor, []), occupied):
                continue
            load = calendar.appointments_between(day_start, day_end)
            candidates.append((load + len(day.given.get(advisor, [])), advisor))
        if not candidates:
            return None
        chosen = min(candidates)[1]
        day.given.setdefault(chosen, []).append(occupied)
        return chosen


def _absence_filter(staff_id: int, start: datetime, end: datetime) -> ColumnElement[bool]:
    return (Booking.advisor_id == staff_id) & (Booking.start_at < end) & (Booking.end_at > start)


def _overlaps(spans: Sequence[Span], span: Span) -> bool:
    return any(start < span[1] and span[0] < end for start, end in spans)


def _within_hours(calendar: AdvisorCalendar, start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    """Whether the appointment lies inside one of the advisor's weekly intervals that day
    (on or off their own grid: the citizen keeps their time)."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_end.date() != local_start.date() and local_end.time() != time():
        return False
    begin = local_start.hour * 60 + local_start.minute
    finish = local_end.hour * 60 + local_end.minute or 24 * 60
    return any(
        interval.weekday == local_start.weekday()
        and interval.start.hour * 60 + interval.start.minute <= begin
        and finish <= interval.end.hour * 60 + interval.end.minute
        for interval in calendar.weekly
    )
