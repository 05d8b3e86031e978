"""Booking use cases: slot search, holds, booking, cancelling and rescheduling.

Every change runs in `write_session`: on SQLite the write lock is taken before the slot is
checked; on PostgreSQL the exclusion constraint `ex_bookings_no_overlap` refuses the second of
two overlapping bookings (or aborts one, to break the deadlock of two checked at once), and we
retry with a fresh view (another advisor may still be free).
The statements are in `queries.py`, the calendar reads and the advisor's choice in
`placement.py`, what a booking request must keep in `requests.py`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from scheduler import queries
from scheduler.availability import Slot
from scheduler.db import conflict_kind, read_session, utcnow, write_session
from scheduler.direct import Direct
from scheduler.errors import (
    BookingCancelled,
    BookingInPast,
    Busy,
    InvalidRequest,
    NotFound,
    SlotUnavailable,
    TokenExpired,
    TokenRevoked,
    TooManyOpenBookings,
)
from scheduler.events import BookingEvent, BookingEventKind, EventHub
from scheduler.idempotency import Idempotency, recall, remember
from scheduler.models import Booking, BookingStatus, Service
from scheduler.placement import (
    RETRY,
    Placement,
    guard_placement,
    new_booking,
    sweep_expired_holds,
    take_advisors_turn,
)
from scheduler.references import new_reference
from scheduler.requests import BookingRequest, Placed, claimed_hold, hold_token_hash
from scheduler.search import search_key
from scheduler.slot_cache import SlotCache
from scheduler.statistics_keep import SearchWaits
from scheduler.tokens import Audience, TokenService
from scheduler.views import AS_WRITTEN, BookingInfo, HoldInfo

# Written in the transaction of a change, after it: the staff desk's audit entry. What it
# raises undoes the change.
Audit = Callable[[Session, BookingInfo], None]

T = TypeVar("T")
_NEW_BOOKING = Direct(queries.NEW_BOOKING)
_NUMBERED_BOOKING = Direct(queries.NUMBERED_BOOKING)


def _unaudited(session: Session, booking: BookingInfo) -> None:
    """A change by the citizen, through their own link: nobody else's access to audit."""


# How long a booking's links outlive its appointment.
LINK_GRACE = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    timezone: str = "Europe/Berlin"
    holiday_country: str = "DE"
    holiday_subdivision: str | None = "ST"
    hold_minutes: int = 5
    max_open_per_email: int = 2
    max_search_days: int = 62
    max_attempts: int = 8
    # Magic links live until this long after the appointment's end, however far ahead it was
    # booked (the room has closed by then; the retention purge erases the booking later).
    link_grace: timedelta = LINK_GRACE
    # How long a search's answer may serve others at most: what other processes write shows
    # after this long (scheduler.slot_cache); 0: never.
    slot_cache_seconds: float = 0.25


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tokens: TokenService,
        config: SchedulerConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.tokens = tokens
        self.config = config or SchedulerConfig()
        self.tz = ZoneInfo(self.config.timezone)
        self.clock = clock
        self.events = EventHub()
        self.searches = SearchWaits(sessions, self.tz)
        self.free_times = SlotCache(self.config.slot_cache_seconds)
        self.placement = Placement(
            self.tz, self.config.holiday_country, self.config.holiday_subdivision
        )

    # -- reading ---------------------------------------------------------------------------

    def services(self) -> list[Service]:
        with read_session(self.sessions) as session:
            return list(session.scalars(select(Service).where(Service.active).order_by(Service.id)))

    def search_window(self, first: date) -> tuple[date, date]:
        """The first and the last local day of the longest slot search from `first`."""
        return first, first + timedelta(days=self.config.max_search_days - 1)

    def slots(
        self, service_id: int, first: date, last: date, channel: str | None = None
    ) -> list[Slot]:
        now, key = self._search_key(service_id, first, last, channel)
        found = self.free_times.get(
            key, now, lambda: self.placement.free_times(self.sessions, *key, now)
        )
        self.searches.seen(*key, now, found)
        return found

    def kept_slots(
        self, service_id: int, first: date, last: date, channel: str | None = None
    ) -> list[Slot] | None:
        """What `slots` would answer from the kept free times, without reading anything (for
        an event loop), or None."""
        now, key = self._search_key(service_id, first, last, channel)
        found = self.free_times.kept(key, now)
        if found is not None:
            self.searches.seen(*key, now, found, may_write=False)
        return found

    def known_taken(self, service_id: int, channel: str, start: datetime) -> bool:
        """Whether a kept search offered `start` a moment ago and has seen it taken since; not
        if it went for the minimum notice or the service lacks `channel` (those answer 422)."""
        now, day = self.clock(), start.astimezone(self.tz).date()
        if not self.placement.as_searched(service_id, channel, start, now):
            return False
        return self.free_times.gone(service_id, channel, start, day, now)

    def _search_key(
        self, service_id: int, first: date, last: date, channel: str | None
    ) -> tuple[datetime, tuple[int, str | None, date, date]]:
        if last < first:
            raise InvalidRequest("end before start", field="end", code="range_reversed")
        if last > self.search_window(first)[1]:
            maximum = self.config.max_search_days
            raise InvalidRequest(
                "range too long", field="end", code="range_too_long", maximum=maximum
            )
        now = self.clock()
        return now, (service_id, channel, max(first, now.astimezone(self.tz).date()), last)

    def booking_info(self, session: Session, booking_id: int) -> BookingInfo | None:
        """A booking as its messages and invites show it, read with one plain query."""
        row = session.connection().execute(queries.BOOKING_INFO, {"id": booking_id}).first()
        if row is None:
            return None
        values: tuple[Any, ...] = tuple(row)
        return BookingInfo(*values)

    def booking_for_token(self, token: str) -> BookingInfo:
        claims = self.tokens.decode(token, Audience.MANAGE)
        with read_session(self.sessions) as session:
            return BookingInfo.of(self._by_claims(session, claims.subject, claims.version))

    def links(self, booking: BookingInfo) -> tuple[str, str]:
        """The manage token and the join token of a booking, at its current version; the
        addresses they go into are the web layer's (web/links.py). They are issued at the
        booking's creation, so every mail of one version carries the same links, and expire
        `link_grace` after the appointment's end."""
        issued = booking.created_at
        lifetime = booking.end + self.config.link_grace - issued
        manage = self.tokens.issue(
            Audience.MANAGE, booking.reference, booking.token_version, issued, lifetime
        )
        join = self.tokens.issue(
            Audience.JOIN, booking.reference, booking.token_version, issued, lifetime
        )
        return manage, join

    # -- holds -----------------------------------------------------------------------------

    def hold(self, service_id: int, start: datetime, channel: str) -> HoldInfo:
        """Keep a slot for `hold_minutes` while a citizen fills in the form."""
        token = secrets.token_urlsafe(24)

        def place(session: Session) -> HoldInfo:
            now = self.clock()
            service = self.placement.service(session, service_id)
            choice = self.placement.choose(session, service, start, channel, now, None, None)
            expires = now + timedelta(minutes=self.config.hold_minutes)
            booking = new_booking(service, choice.advisor_id, channel, start, BookingStatus.HELD)
            take_advisors_turn(session, choice.advisor_id, booking.start_at)
            sweep_expired_holds(session, choice, booking.start_at, booking.blocked_until, now)
            booking.hold_token_hash, booking.hold_expires_at = hold_token_hash(token), expires
            session.add(booking)
            session.flush()
            return HoldInfo(token, service.id, channel, booking.start_at, booking.end_at, expires)

        return self._with_retries(place)

    def release_hold(self, token: str) -> None:
        with write_session(self.sessions) as session:
            session.execute(
                delete(Booking).where(
                    Booking.hold_token_hash == hold_token_hash(token),
                    Booking.status == BookingStatus.HELD,
                )
            )

    # -- booking ---------------------------------------------------------------------------

    def book(
        self,
        request: BookingRequest,
        idempotency: Idempotency | None = None,
        respond: Callable[[BookingInfo], dict[str, Any]] | None = None,
        audit: Audit = _unaudited,
    ) -> Placed:
        """Book the slot at `request.start`, or raise; with `idempotency`, at most once.

        `respond` renders the answer inside the transaction, so that the stored idempotent
        answer and the booking are committed together or not at all.
        """

        def place(session: Session) -> Placed:
            if idempotency is not None:
                stored = recall(session, idempotency)
                if stored is not None:
                    return Placed(None, stored, replayed=True)
            info = self._place(session, request)
            self.events.emit(
                session,
                BookingEvent(
                    BookingEventKind.CREATED, info, self.clock(), actor_id=request.created_by_id
                ),
            )
            audit(session, info)
            response = respond(info) if respond else None
            if idempotency is not None and response is not None:
                remember(session, idempotency, response, self.clock())
            return Placed(info, response)

        def replay_after_race() -> Placed | None:
            if idempotency is None:
                return None
            with read_session(self.sessions) as session:
                stored = recall(session, idempotency)
            return Placed(None, stored, replayed=True) if stored is not None else None

        try:
            placed = self._with_retries(place, on_unique=replay_after_race)
        except SlotUnavailable:
            if request.hold_token is None and request.advisor_id is None:
                self.free_times.taken(request.service_id, request.start)
            raise
        return placed

    def cancel(
        self,
        reference: str,
        version: int | None = None,
        actor_id: int | None = None,
        audit: Audit = _unaudited,
    ) -> BookingInfo:
        """Cancel; cancelling a cancelled booking changes nothing. Frees the slot at once."""
        with write_session(self.sessions) as session:
            booking = self._locked(session, reference, version)
            if booking.status == BookingStatus.CANCELLED:
                info = BookingInfo.of(booking)
                audit(session, info)
                return info
            if booking.start_at <= self.clock():
                raise BookingInPast()
            booking.status = BookingStatus.CANCELLED
            booking.cancelled_at = self.clock()
            booking.sequence += 1
            info = BookingInfo.of(booking)
            self.events.emit(
                session,
                BookingEvent(BookingEventKind.CANCELLED, info, self.clock(), actor_id=actor_id),
            )
            audit(session, info)
            return info

    def reschedule(
        self,
        reference: str,
        start: datetime,
        version: int | None = None,
        actor_id: int | None = None,
        audit: Audit = _unaudited,
    ) -> BookingInfo:
        """Move a booking: the new slot is taken and the old one freed in one transaction."""

        def move(session: Session) -> BookingInfo:
            # Before the row lock: an absence being entered holds the guard and waits for rows.
            guard_placement(session)
            booking = self._locked(session, reference, version)
            if booking.status == BookingStatus.CANCELLED:
                raise BookingCancelled()
            now = self.clock()
            if booking.start_at <= now:
                raise BookingInPast()
            if booking.start_at == start:
                info = BookingInfo.of(booking)
            else:
                info = self._move(session, booking, start, now, actor_id)
            audit(session, info)
            return info

        return self._with_retries(move)

    # -- internals -------------------------------------------------------------------------

    def _move(
        self,
        session: Session,
        booking: Booking,
        start: datetime,
        now: datetime,
        actor_id: int | None,
    ) -> BookingInfo:
        choice = self.placement.choose(
            session,
            booking.service,
            start,
            booking.channel,
            now,
            None,
            booking.id,
            prefer=booking.advisor_id,
        )
        new_start = start.astimezone(UTC)
        new_end = new_start + (booking.end_at - booking.start_at)
        blocked_until = new_end + timedelta(minutes=booking.service.buffer_minutes)
        take_advisors_turn(session, choice.advisor_id, new_start)
        sweep_expired_holds(session, choice, new_start, blocked_until, now)
        previous_start = booking.start_at
        booking.advisor_id, booking.start_at, booking.end_at = (
            choice.advisor_id,
            new_start,
            new_end,
        )
        booking.blocked_until = blocked_until
        booking.sequence += 1
        session.flush()
        session.refresh(booking)
        info = BookingInfo.of(booking)
        self.events.emit(
            session,
            BookingEvent(
                BookingEventKind.RESCHEDULED,
                info,
                now,
                previous_start=previous_start,
                actor_id=actor_id,
            ),
        )
        return info

    def _with_retries(
        self, work: Callable[[Session], T], on_unique: Callable[[], T | None] | None = None
    ) -> T:
        for attempt in range(self.config.max_attempts):
            try:
                with write_session(self.sessions) as session:
                    session.info[RETRY] = attempt > 0
                    return work(session)
            except DBAPIError as exc:
                kind = conflict_kind(exc)
                if kind is None:
                    raise
                if kind == "unique" and on_unique is not None:
                    replay = on_unique()
                    if replay is not None:
                        return replay
        raise Busy()

    def _place(self, session: Session, request: BookingRequest) -> BookingInfo:
        now = self.clock()
        email_key = request.email_key
        # The day's calendars come with the checks, except for a hold (its slot is written).
        before = self.placement.for_booking(
            session, request.service_id, email_key, request.start, now, not request.hold_token
        )
        service = before.service
        if email_key and before.open_count >= self.config.max_open_per_email:
            raise TooManyOpenBookings(maximum=self.config.max_open_per_email)
        request.check(service.channels)
        reference = new_reference()
        citizen = {
            "status": BookingStatus.CONFIRMED,
            "reference": reference,
            "name": request.name,
            "email": request.email,
            "email_key": email_key,
            "phone": request.phone,
            "language": request.language,
            "notes": request.notes,
            "interpreter_language": request.interpreter_language,
            "sign_language": request.sign_language,
            "wheelchair_access": request.wheelchair_access,
            "created_by_id": request.created_by_id,
            "search_key": search_key(reference, request.name, request.email, request.phone),
            "created_at": now,
        }
        held = claimed_hold(session, request, now) if request.hold_token else None
        if held is not None:
            held.hold_token_hash = held.hold_expires_at = None
            for name, value in citizen.items():
                setattr(held, name, value)
            session.flush()
            return BookingInfo.of(held)
        choice = self.placement.choose(
            session,
            service,
            request.start,
            request.channel,
            now,
            request.advisor_id,
            None,
            closed=before.closed,
            calendars=before.calendars,
        )
        start = request.start.astimezone(UTC)
        end = start + timedelta(minutes=service.duration_minutes)
        blocked_until = end + timedelta(minutes=service.buffer_minutes)
        take_advisors_turn(session, choice.advisor_id, start)
        sweep_expired_holds(session, choice, start, blocked_until, now)
        # A Core insert: the unit of work costs more than the statement on this hottest path.
        values = {
            **citizen,
            "service_id": service.id,
            "advisor_id": choice.advisor_id,
            "channel": request.channel,
            "start_at": start,
            "end_at": end,
            "blocked_until": blocked_until,
            "token_version": 1,
            "sequence": 0,
            "updated_at": now,
        }
        if (booking_id := before.new_id) is None:
            booking_id = _NEW_BOOKING.scalar(session.connection(), values)
        else:  # numbered already (PostgreSQL): written in the round trip of the commit
            _NUMBERED_BOOKING.later(session.connection(), {"id": booking_id, **values})
        written: dict[str, Any] = {column: values[column] for column in AS_WRITTEN}
        return BookingInfo(
            id=booking_id,
            service_name=service.name,
            advisor_name="",  # a citizen's answer does not name the advisor
            start=start,
            end=end,
            address=service.address,
            team_name=service.team_name,
            team_email=service.team_email,
            **written,
        )

    def _by_claims(self, session: Session, reference: str, version: int) -> Booking:
        booking = session.scalar(select(Booking).where(Booking.reference == reference))
        if booking is None or booking.token_version != version:
            raise TokenRevoked()
        if booking.erased:
            raise TokenExpired()  # its retention has passed: nothing left to show or change
        return booking

    def _locked(self, session: Session, reference: str, version: int | None) -> Booking:
        booking = session.scalar(
            select(Booking).where(Booking.reference == reference).with_for_update(of=Booking)
        )
        if booking is None:
            raise NotFound("unknown booking", field="reference")
        if version is not None and booking.token_version != version:
            raise TokenRevoked()
        return booking
