"""An advisor's day by e-mail, for those who asked for it (`Staff.agenda_mail`).

At the configured local time (`SPRECHSTUNDE_AGENDA_MAIL_TIME`, 07:00) the outbox worker plans
one message per advisor who opted in and has appointments that day; it is rendered when sent,
from the day as it is then (an agenda whose appointments were all cancelled meanwhile is not
sent). Each message's id is made of the advisor and the day, so the several processes of a
deployment, or a restarted one, plan it once: the outbox's unique message id refuses the
second. A worker that starts later in the morning (before noon) still plans the day's agenda;
one that was down all morning skips that day.

Like the advisor's calendar feed, the mail names no citizen: times, concerns, kinds and
booking references, and the link to the agenda page (which needs a login) for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from notifications.messages import MailRenderer
from notifications.models import OutboxMessage
from notifications.outbox import Composed, MessageComposer, message_row
from scheduler.db import write_session
from scheduler.models import Booking, BookingStatus, Service, Staff

AGENDA = "agenda"
# After this local time a worker that starts late no longer sends the morning's agenda.
LATEST = time(12, 0)


@dataclass(frozen=True, slots=True)
class AgendaConfig:
    at: time
    timezone: str
    base_url: str
    language: str


def _day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


def _day_bookings(session: Session, staff_id: int, day: date, zone: ZoneInfo) -> list[Booking]:
    start, end = _day_bounds(day, zone)
    return list(
        session.scalars(
            select(Booking)
            .where(
                Booking.advisor_id == staff_id,
                Booking.status == BookingStatus.CONFIRMED,
                Booking.start_at >= start,
                Booking.start_at < end,
            )
            .order_by(Booking.start_at)
        )
    )


class AgendaPlanner:
    """Called by the outbox worker before each delivery round: plans the day's agendas once
    the configured time has come (once per process and day; the database refuses doubles)."""

    def __init__(
        self, sessions: sessionmaker[Session], config: AgendaConfig, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self.config = config
        self._zone = ZoneInfo(config.timezone)
        self._clock = clock
        self._domain = urlsplit(config.base_url).hostname or "localhost"
        self._planned: date | None = None

    def __call__(self) -> int:
        local = self._clock().astimezone(self._zone)
        if self._planned == local.date() or not self.config.at <= local.time() < LATEST:
            return 0
        planned = self.plan(local.date())
        self._planned = local.date()
        return planned

    def plan(self, day: date) -> int:
        """Plan the agendas of `day`; the number of messages newly planned."""
        now = self._clock()
        _, end = _day_bounds(day, self._zone)
        with write_session(self._sessions) as session:
            advisors = session.scalars(
                select(Staff).where(Staff.agenda_mail.is_(True), Staff.active.is_(True))
            ).all()
            rows = [
                message_row(
                    AGENDA,
                    staff.email,
                    self.config.language,
                    now,
                    domain=self._domain,
                    params={"staff_id": str(staff.id), "day": day.isoformat()},
                    expires_at=end,
                    message_id=f"<agenda-{staff.id}-{day:%Y%m%d}@{self._domain}>",
                )
                for staff in advisors
                if _day_bookings(session, staff.id, day, self._zone)
            ]
            if not rows:
                return 0
            # The ids of the rows inserted: a row count is not reported for this on PostgreSQL.
            statement = _insert_once(session).values(rows).returning(OutboxMessage.id)
            planned = len(session.execute(statement).all())
            session.info["outbox_written"] = True
            return planned


def _insert_once(session: Session) -> Insert:
    """An INSERT that skips a message whose id is planned already."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(OutboxMessage).on_conflict_do_nothing(
            index_elements=["message_id"]
        )
    return sqlite.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["message_id"])


class AgendaComposer(MessageComposer):
    """Renders the agendas; hands every other message to the composer it wraps."""

    def __init__(
        self,
        inner: MessageComposer,
        renderer: MailRenderer,
        config: AgendaConfig,
        agenda_url: str,
    ) -> None:
        # No super().__init__: everything that is no agenda goes to `inner`.
        self._inner = inner
        self._agenda_renderer = renderer
        self._zone = ZoneInfo(config.timezone)
        self._agenda_url = agenda_url

    def compose(self, session: Session, message: OutboxMessage, now: datetime) -> Composed | None:
        if message.kind != AGENDA:
            return self._inner.compose(session, message, now)
        params = message.params or {}
        staff = session.get(Staff, int(params.get("staff_id") or 0))
        if staff is None or not staff.active or not staff.agenda_mail:
            return None  # opted out, or left, since it was planned
        day = date.fromisoformat(params.get("day") or "")
        bookings = _day_bookings(session, staff.id, day, self._zone)
        if not bookings:
            return None  # every appointment of the day was cancelled meanwhile
        services = {
            s.id: s.name
            for s in session.scalars(
                select(Service).where(Service.id.in_({b.service_id for b in bookings}))
            )
        }
        mail = self._agenda_renderer.render_agenda(
            message.language,
            advisor_name=staff.name,
            day=day,
            zone=self._zone,
            appointments=[
                (b.start_at, b.end_at, services.get(b.service_id, ""), b.channel, b.reference or "")
                for b in bookings
            ],
            agenda_url=self._agenda_url,
        )
        return Composed(mail.subject, mail.text, mail.html)
