"""Booking use cases: slot search, holds, booking, cancelling and rescheduling.

Every change runs in `write_session`: on SQLite the write lock is taken before the slot is
checked; on PostgreSQL the exclusion constraint `ex_bookings_no_overlap` refuses the second of
two overlapping bookings, and we retry with a fresh view (another advisor may still be free).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scheduler import calendar
from scheduler.availability import (
    AdvisorCalendar,
    Slot,
    SlotRules,
    WeeklyInterval,
    find_slots,
    free_advisors_at,
    is_on_grid,
    last_bookable_day,
)
from scheduler.db import epoch, read_session, utcnow, write_session
from scheduler.errors import (
    BookingCancelled,
    BookingInPast,
    Busy,
    ChannelNotOffered,
    ClosedDay,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    OffGrid,
    OutsideBookingWindow,
    SlotUnavailable,
    TokenExpired,
    TokenRevoked,
    TooManyOpenBookings,
)
from scheduler.events import BookingEvent, BookingEventKind, EventHub
from scheduler.models import (
    OCCUPYING,
    Absence,
    Booking,
    BookingStatus,
    Channel,
    IdempotencyRecord,
    Service,
    Staff,
    Team,
    WeeklyHours,
    staff_services,
)
from scheduler.tokens import Audience, TokenService
from scheduler.views import BookingInfo, HoldInfo, ServiceView

REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out on the phone


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    timezone: str = "Europe/Berlin"
    holiday_country: str = "DE"
    holiday_subdivision: str | None = "ST"
    hold_minutes: int = 5
    max_open_per_email: int = 2
    max_search_days: int = 62
    max_attempts: int = 8
    link_lifetime: timedelta = timedelta(days=180)


@dataclass(frozen=True, slots=True)
class BookingRequest:
    service_id: int
    start: datetime
    channel: str
    name: str
    email: str | None
    phone: str | None = None
    language: str = "de"
    notes: str = ""
    hold_token: str | None = None
    advisor_id: int | None = None
    created_by_id: int | None = None
    interpreter_language: str | None = None
    sign_language: bool = False
    wheelchair_access: bool = False


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class BookingUrls:
    manage: str
    join: str | None


@dataclass(frozen=True, slots=True)
class _Choice:
    advisor_id: int
    # The advisor's holds that have run out (POSIX-second spans): free, but still written.
    run_out_holds: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Placed:
    booking: BookingInfo | None
    response: dict[str, Any] | None
    replayed: bool = False


def new_reference() -> str:
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _conflict_kind(exc: IntegrityError) -> str | None:
    """'overlap' or 'unique' for the integrity errors a retry can settle, else None."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    message = str(exc.orig)
    if sqlstate == "23P01" or "booking_overlap" in message:
        return "overlap"
    if sqlstate == "23505" or "UNIQUE constraint failed" in message:
        return "unique"
    return None


_SERVICE = (
    select(
        Service.id,
        Service.name,
        Service.address,
        Team.name,
        Team.email,
        Service.duration_minutes,
        Service.buffer_minutes,
        Service.slot_interval_minutes,
        Service.min_notice_minutes,
        Service.horizon_days,
        Service.channels,
    )
    .outerjoin(Team, Team.id == Service.team_id)
    .where(Service.id == bindparam("service_id"), Service.active)
)
_SERVICE_LOCKING = _SERVICE.add_columns(
    func.pg_advisory_xact_lock(func.hashtext(bindparam("person")))
)
# The fields of BookingInfo that are the booking's columns as written.
_AS_WRITTEN = (
    "reference",
    "status",
    "service_id",
    "advisor_id",
    "channel",
    "name",
    "email",
    "phone",
    "language",
    "notes",
    "token_version",
    "sequence",
    "created_at",
    "interpreter_language",
    "sign_language",
    "wheelchair_access",
)
# The columns of BookingInfo, in its order.
_BOOKING_INFO = (
    select(
        Booking.id,
        func.coalesce(Booking.reference, ""),
        Booking.status,
        Booking.service_id,
        Service.name,
        Booking.advisor_id,
        Staff.name,
        Booking.channel,
        Booking.start_at,
        Booking.end_at,
        Booking.name,
        Booking.email,
        Booking.phone,
        Booking.language,
        Booking.notes,
        Booking.token_version,
        Booking.sequence,
        Booking.created_at,
        Service.address,
        Team.name,
        Team.email,
        Booking.interpreter_language,
        Booking.sign_language,
        Booking.wheelchair_access,
    )
    .join(Service, Service.id == Booking.service_id)
    .join(Staff, Staff.id == Booking.advisor_id)
    .outerjoin(Team, Team.id == Service.team_id)
    .where(Booking.id == bindparam("id"))
)
# The service's advisors, each with its weekly intervals (none: one row of NULLs).
_ROSTER = (
    select(Staff.id, WeeklyHours.weekday, WeeklyHours.start, WeeklyHours.end)
    .join(staff_services, staff_services.c.staff_id == Staff.id)
    .outerjoin(WeeklyHours, WeeklyHours.staff_id == Staff.id)
    .where(staff_services.c.service_id == bindparam("service_id"), Staff.active)
    .order_by(Staff.id)
)
# Their absences (kind 0), taken time (1) and run-out holds (2) around the days asked for;
# the advisors' ids are given (from _ROSTER): a plain list plans far faster than a subquery.
_BUSY = union_all(
    select(literal(0), Absence.staff_id, epoch(Absence.start_at), epoch(Absence.end_at)).where(
        Absence.staff_id.in_(bindparam("ids", expanding=True)),
        Absence.start_at < bindparam("hi"),
        Absence.end_at > bindparam("lo"),
    ),
    select(
        # 1: taken; 2: a hold that has run out, free but still in the table (see _sweep...)
        case(
            (
                and_(
                    Booking.status == BookingStatus.HELD,
                    Booking.hold_expires_at <= bindparam("now"),
                ),
                literal(2),
            ),
            else_=literal(1),
        ),
        Booking.advisor_id,
        epoch(Booking.start_at),
        epoch(Booking.blocked_until),
    ).where(
        Booking.advisor_id.in_(bindparam("ids", expanding=True)),
        Booking.status.in_(OCCUPYING),
        Booking.start_at < bindparam("hi"),
        Booking.blocked_until > bindparam("lo"),
        Booking.id != bindparam("exclude"),
    ),
)
_OPEN_BOOKINGS = select(func.count()).where(
    Booking.email_key == bindparam("email_key"),
    Booking.service_id == bindparam("service_id"),
    Booking.status == BookingStatus.CONFIRMED,
    Booking.start_at > bindparam("now"),
)
_SWEEP_HOLDS = (
    delete(Booking)
    .where(
        Booking.advisor_id == bindparam("advisor_id"),
        Booking.status == BookingStatus.HELD,
        Booking.hold_expires_at <= bindparam("now"),
        Booking.start_at < bindparam("blocked_until"),
        Booking.blocked_until > bindparam("start"),
    )
    .execution_options(synchronize_session=False)
)


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

    # -- reading ---------------------------------------------------------------------------

    def services(self) -> list[Service]:
        with read_session(self.sessions) as session:
            return list(session.scalars(select(Service).where(Service.active).order_by(Service.id)))

    def slots(
        self, service_id: int, first: date, last: date, channel: str | None = None
    ) -> list[Slot]:
        if last < first:
            raise InvalidRequest("end before start", field="end", code="range_reversed")
        if (last - first).days >= self.config.max_search_days:
            raise InvalidRequest(
                "range too long",
                field="end",
                code="range_too_long",
                maximum=self.config.max_search_days,
            )
        now = self.clock()
        with read_session(self.sessions) as session:
            service = self._service(session, service_id)
            if channel is not None and channel not in service.channels:
                raise ChannelNotOffered(channel=channel)
            first = max(first, now.astimezone(self.tz).date())
            if last < first:
                return []
            calendars = self._calendars(session, service, first, last, now)
            closed = self._closed(session, first, last)
        return find_slots(
            _rules(service),
            calendars,
            first,
            last,
            now=now,
            tz=self.tz,
            closed_days=closed,
            all_advisors=False,
        )

    def booking_info(self, session: Session, booking_id: int) -> BookingInfo | None:
        """A booking as its messages and invites show it, read with one plain query."""
        row = session.connection().execute(_BOOKING_INFO, {"id": booking_id}).first()
        return BookingInfo(*row) if row is not None else None

    def booking_for_token(self, token: str) -> BookingInfo:
        claims = self.tokens.decode(token, Audience.MANAGE)
        with read_session(self.sessions) as session:
            return BookingInfo.of(self._by_claims(session, claims.subject, claims.version))

    def urls(self, booking: BookingInfo, base_url: str) -> BookingUrls:
        """The magic link to manage the booking and, for video, the link to join its room."""
        manage, join = self.links(booking)
        return BookingUrls(
            manage=f"{base_url}/b/{manage}",
            join=f"{base_url}/j/{join}" if booking.channel == Channel.VIDEO else None,
        )

    def links(self, booking: BookingInfo) -> tuple[str, str]:
        """The manage token and the join token of a booking, at its current version."""
        issued = booking.created_at
        manage = self.tokens.issue(
            Audience.MANAGE,
            booking.reference,
            booking.token_version,
            issued,
            self.config.link_lifetime,
        )
        join = self.tokens.issue(
            Audience.JOIN,
            booking.reference,
            booking.token_version,
            issued,
            self.config.link_lifetime,
        )
        return manage, join

    # -- holds -----------------------------------------------------------------------------

    def hold(self, service_id: int, start: datetime, channel: str) -> HoldInfo:
        """Keep a slot for `hold_minutes` while a citizen fills in the form."""
        token = secrets.token_urlsafe(24)

        def place(session: Session) -> HoldInfo:
            now = self.clock()
            service = self._service(session, service_id)
            choice = self._choose_advisor(session, service, start, channel, now, None, None)
            expires = now + timedelta(minutes=self.config.hold_minutes)
            booking = _new_booking(service, choice.advisor_id, channel, start, BookingStatus.HELD)
            _sweep_expired_holds(session, choice, booking.start_at, booking.blocked_until, now)
            booking.hold_token_hash, booking.hold_expires_at = _hash_token(token), expires
            session.add(booking)
            session.flush()
            return HoldInfo(token, service.id, channel, booking.start_at, booking.end_at, expires)

        return self._with_retries(place)

    def release_hold(self, token: str) -> None:
        with write_session(self.sessions) as session:
            session.execute(
                delete(Booking).where(
                    Booking.hold_token_hash == _hash_token(token),
                    Booking.status == BookingStatus.HELD,
                )
            )

    # -- booking ---------------------------------------------------------------------------

    def book(
        self,
        request: BookingRequest,
        idempotency: Idempotency | None = None,
        respond: Callable[[BookingInfo], dict[str, Any]] | None = None,
    ) -> Placed:
        """Book the slot at `request.start`, or raise; with `idempotency`, at most once.

        `respond` renders the answer inside the transaction, so that the stored idempotent
        answer and the booking are committed together or not at all.
        """

        def place(session: Session) -> Placed:
            if idempotency is not None:
                replay = self._replay(session, idempotency)
                if replay is not None:
                    return replay
            info = self._place(session, request)
            self.events.emit(
                session,
                BookingEvent(
                    BookingEventKind.CREATED, info, self.clock(), actor_id=request.created_by_id
                ),
            )
            response = respond(info) if respond else None
            if idempotency is not None and response is not None:
                session.add(
                    IdempotencyRecord(
                        key=idempotency.key,
                        request_hash=idempotency.fingerprint,
                        status_code=201,
                        response=response,
                        created_at=self.clock(),
                    )
                )
                session.flush()
            return Placed(info, response)

        def replay_after_race() -> Placed | None:
            if idempotency is None:
                return None
            with read_session(self.sessions) as session:
                return self._replay(session, idempotency)

        return self._with_retries(place, on_unique=replay_after_race)

    def cancel(
        self, reference: str, version: int | None = None, actor_id: int | None = None
    ) -> BookingInfo:
        """Cancel; cancelling a cancelled booking changes nothing. Frees the slot at once."""
        with write_session(self.sessions) as session:
            booking = self._locked(session, reference, version)
            if booking.status == BookingStatus.CANCELLED:
                return BookingInfo.of(booking)
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
            return info

    def reschedule(
        self,
        reference: str,
        start: datetime,
        version: int | None = None,
        actor_id: int | None = None,
    ) -> BookingInfo:
        """Move a booking: the new slot is taken and the old one freed in one transaction."""

        def move(session: Session) -> BookingInfo:
            booking = self._locked(session, reference, version)
            if booking.status == BookingStatus.CANCELLED:
                raise BookingCancelled()
            now = self.clock()
            if booking.start_at <= now:
                raise BookingInPast()
            if booking.start_at == start:
                return BookingInfo.of(booking)
            choice = self._choose_advisor(
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
            _sweep_expired_holds(session, choice, new_start, blocked_until, now)
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

        return self._with_retries(move)

    # -- internals -------------------------------------------------------------------------

    def _with_retries(
        self, work: Callable[[Session], Any], on_unique: Callable[[], Any] | None = None
    ) -> Any:
        for _ in range(self.config.max_attempts):
            try:
                with write_session(self.sessions) as session:
                    return work(session)
            except IntegrityError as exc:
                kind = _conflict_kind(exc)
                if kind is None:
                    raise
                if kind == "unique" and on_unique is not None:
                    replay = on_unique()
                    if replay is not None:
                        return replay
        raise Busy()

    def _replay(self, session: Session, idempotency: Idempotency) -> Placed | None:
        record = session.get(IdempotencyRecord, idempotency.key)
        if record is None:
            return None
        if record.request_hash != idempotency.fingerprint:
            raise IdempotencyKeyReused()
        return Placed(None, record.response, replayed=True)

    def _place(self, session: Session, request: BookingRequest) -> BookingInfo:
        now = self.clock()
        email_key = request.email.strip().lower() if request.email else None
        service = self._service(session, request.service_id, person=email_key)
        if email_key:
            self._check_cap(session, service, email_key, now)
        citizen = {
            "status": BookingStatus.CONFIRMED,
            "reference": new_reference(),
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
            "created_at": now,
        }
        held = self._claim_hold(session, request, now) if request.hold_token else None
        if held is not None:
            held.hold_token_hash = held.hold_expires_at = None
            for name, value in citizen.items():
                setattr(held, name, value)
            session.flush()
            return BookingInfo.of(held)
        choice = self._choose_advisor(
            session, service, request.start, request.channel, now, request.advisor_id, None
        )
        advisor_id = choice.advisor_id
        start = request.start.astimezone(UTC)
        end = start + timedelta(minutes=service.duration_minutes)
        blocked_until = end + timedelta(minutes=service.buffer_minutes)
        _sweep_expired_holds(session, choice, start, blocked_until, now)
        # A Core insert: the unit of work costs more than the statement on this hottest path.
        values = {
            **citizen,
            "service_id": service.id,
            "advisor_id": advisor_id,
            "channel": request.channel,
            "start_at": start,
            "end_at": end,
            "blocked_until": blocked_until,
            "token_version": 1,
            "sequence": 0,
            "updated_at": now,
        }
        booking_id = session.connection().scalar(insert(Booking).returning(Booking.id), values)
        return BookingInfo(
            id=booking_id,
            service_name=service.name,
            advisor_name="",  # a citizen's answer does not name the advisor
            start=start,
            end=end,
            address=service.address,
            team_name=service.team_name,
            team_email=service.team_email,
            **{column: values[column] for column in _AS_WRITTEN},
        )

    def _claim_hold(
        self, session: Session, request: BookingRequest, now: datetime
    ) -> Booking | None:
        assert request.hold_token is not None
        booking = session.scalar(
            select(Booking).where(
                Booking.hold_token_hash == _hash_token(request.hold_token),
                Booking.status == BookingStatus.HELD,
                Booking.hold_expires_at > now,
            )
        )
        matches = booking is not None and (
            booking.service_id == request.service_id
            and booking.start_at == request.start.astimezone(UTC)
            and booking.channel == request.channel
        )
        return booking if matches else None

    def _check_cap(
        self, session: Session, service: Service | ServiceView, email_key: str, now: datetime
    ) -> None:
        """Refuse a booking beyond the open bookings one person may hold for a service. On
        PostgreSQL the caller has taken the person's lock (`_service(..., person=...)`)."""
        open_count = session.connection().scalar(
            _OPEN_BOOKINGS, {"email_key": email_key, "service_id": service.id, "now": now}
        )
        if (open_count or 0) >= self.config.max_open_per_email:
            raise TooManyOpenBookings(maximum=self.config.max_open_per_email)

    def _choose_advisor(
        self,
        session: Session,
        service: Service | ServiceView,
        start: datetime,
        channel: str,
        now: datetime,
        advisor_id: int | None,
        exclude_booking: int | None,
        prefer: int | None = None,
    ) -> _Choice:
        """The advisor who gets a booking at `start`: free, least loaded that day, lowest id."""
        if channel not in service.channels:
            raise ChannelNotOffered(channel=channel)
        start = self._validate_start(session, service, start, now)
        day = start.astimezone(self.tz).date()
        stale: dict[int, list[tuple[int, int]]] = {}
        calendars = self._calendars(session, service, day, day, now, exclude_booking, stale)
        if advisor_id is not None:
            calendars = [c for c in calendars if c.advisor_id == advisor_id]
            if not calendars:
                raise NotFound("advisor does not offer this service", field="advisor_id")
        rules = _rules(service)
        free = free_advisors_at(rules, calendars, start, now=now, tz=self.tz)
        if not free:
            # Only now tell "not a slot time at all" (422) from "taken" (409).
            if not is_on_grid(rules, calendars, start, self.tz):
                raise OffGrid()
            raise SlotUnavailable()
        if prefer in free:
            return _Choice(prefer, stale[prefer])
        day_start = datetime.combine(day, time(), self.tz)
        day_end = datetime.combine(day + timedelta(days=1), time(), self.tz)
        load = {c.advisor_id: c.appointments_between(day_start, day_end) for c in calendars}
        chosen = min(free, key=lambda advisor: (load[advisor], advisor))
        return _Choice(chosen, stale[chosen])

    def _validate_start(
        self, session: Session, service: Service | ServiceView, start: datetime, now: datetime
    ) -> datetime:
        if start.tzinfo is None:
            raise InvalidRequest("time without offset", field="start", code="naive_time")
        start = start.astimezone(UTC)
        if start.second or start.microsecond:
            raise OffGrid()
        if start < now + timedelta(minutes=service.min_notice_minutes):
            raise OutsideBookingWindow(field="start", reason="too_soon")
        day = start.astimezone(self.tz).date()
        if day > last_bookable_day(_rules(service), now, self.tz):
            raise OutsideBookingWindow(field="start", reason="beyond_horizon")
        if self._closed(session, day, day):
            raise ClosedDay(field="start")
        return start

    def _closed(self, session: Session, first: date, last: date) -> frozenset[date]:
        return calendar.closed_days(
            session, self.config.holiday_country, self.config.holiday_subdivision, first, last
        )

    def _service(self, session: Session, service_id: int, person: str | None = None) -> ServiceView:
        """The service; on PostgreSQL with `person` (an e-mail key) also that person's
        transaction lock, in the same round trip. The lock serialises bookings by one person,
        so that two parallel requests cannot both pass `_check_cap`; statements after this
        one see what the lock's previous holder committed (each has its own snapshot)."""
        connection = session.connection()
        params: dict[str, object] = {"service_id": service_id}
        query = _SERVICE
        if person is not None and connection.dialect.name == "postgresql":
            query, params["person"] = _SERVICE_LOCKING, person
        row = connection.execute(query, params).first()
        if row is None:
            raise NotFound("unknown service", field="service_id")
        return ServiceView(*row[:11])

    def _calendars(
        self,
        session: Session,
        service: Service | ServiceView,
        first: date,
        last: date,
        now: datetime,
        exclude_booking: int | None = None,
        stale: dict[int, list[tuple[int, int]]] | None = None,
    ) -> list[AdvisorCalendar]:
        """The service's advisors with their hours and the absences and taken time around
        the local days `first`..`last`, read with two lean queries; `stale` receives each
        advisor's holds that have run out."""
        # Plain Core rows and statements built once: building and caching a statement costs
        # more than running it here, and the ORM's per-row bookkeeping more than the query.
        connection = session.connection()
        lo = datetime.combine(first, time(), self.tz).astimezone(UTC) - timedelta(days=1)
        hi = datetime.combine(last, time(), self.tz).astimezone(UTC) + timedelta(days=2)
        params = {
            "service_id": service.id,
            "lo": lo,
            "hi": hi,
            "now": now,
            "exclude": exclude_booking or 0,
        }
        weekly: dict[int, list[WeeklyInterval]] = {}
        for staff_id, weekday, start, end in connection.execute(_ROSTER, params):
            intervals = weekly.setdefault(staff_id, [])
            if weekday is not None:
                intervals.append(
                    WeeklyInterval(weekday, time.fromisoformat(start), time.fromisoformat(end))
                )
        ids = list(weekly)
        absences: dict[int, list[tuple[int, int]]] = {i: [] for i in ids}
        taken: dict[int, list[tuple[int, int]]] = {i: [] for i in ids}
        run_out: dict[int, list[tuple[int, int]]] = {i: [] for i in ids}
        busy = (absences, taken, run_out)
        rows = connection.execute(_BUSY, {**params, "ids": ids}) if ids else ()
        for kind, staff_id, start, end in rows:
            busy[kind][staff_id].append((start, end))
        if stale is not None:
            stale.update(run_out)
        return [AdvisorCalendar.from_spans(i, weekly[i], absences[i], taken[i]) for i in ids]

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


def _rules(service: Service | ServiceView) -> SlotRules:
    return SlotRules(
        duration=service.duration_minutes,
        buffer=service.buffer_minutes,
        step=service.slot_interval_minutes,
        min_notice=service.min_notice_minutes,
        horizon_days=service.horizon_days,
    )


def _new_booking(
    service: Service | ServiceView,
    advisor_id: int,
    channel: str,
    start: datetime,
    status: BookingStatus,
) -> Booking:
    start = start.astimezone(UTC)
    end = start + timedelta(minutes=service.duration_minutes)
    return Booking(
        service_id=service.id,
        advisor_id=advisor_id,
        channel=channel,
        status=status,
        start_at=start,
        end_at=end,
        blocked_until=end + timedelta(minutes=service.buffer_minutes),
    )


def _sweep_expired_holds(
    session: Session, choice: _Choice, start: datetime, blocked_until: datetime, now: datetime
) -> None:
    """Delete run-out holds in the way of a booking about to be written: the database
    constraint, which cannot know the time, still counts them as taken. Only when the
    calendar read showed one there, which is rare: a statement saved on every booking."""
    # A second of slack either way: the spans are whole seconds, computed by the database.
    begin, end = int(start.timestamp()) - 1, math.ceil(blocked_until.timestamp()) + 1
    if not any(s < end and begin < e for s, e in choice.run_out_holds):
        return
    session.connection().execute(
        _SWEEP_HOLDS,
        {
            "advisor_id": choice.advisor_id,
            "start": start,
            "blocked_until": blocked_until,
            "now": now,
        },
    )
