"""The appointments of a day, or of a team over a range of days, as a CSV file for the office's
other systems (docs/administration.md names the columns).

Administrators and the hotline export every appointment, an advisor only their own. The
citizen's name and phone number are in the file only when asked for: the reference, the time
and the service are enough to plan a room, and a file that leaves the product cannot be
erased by its retention. Every export is audited; one with names is audited on each of the
bookings it names too, so that the booking's access log shows it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.accounts import StaffIdentity
from scheduler.db import write_session
from scheduler.errors import InvalidRequest, NotFound
from scheduler.models import AuditEntry, Booking, BookingStatus, Role, Service, Team

MAX_DAYS = 93  # a quarter: what an office plans at once
COLUMNS = ("reference", "date", "start", "end", "service", "advisor", "channel", "status")
PERSONAL = ("name", "phone")


class RangeTooLong(InvalidRequest):
    code = "export_range_too_long"


@dataclass(frozen=True, slots=True)
class Exported:
    filename: str
    content: bytes
    rows: int


class AppointmentExport:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime], tz: ZoneInfo
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._tz = tz

    def day(self, actor: StaffIdentity, day: date, *, personal: bool = False) -> Exported:
        """The day's appointments the actor may see: all of them, or an advisor's own."""
        actor.require(Role.ADMIN, Role.HOTLINE, Role.ADVISOR)
        own = actor.id if actor.role == Role.ADVISOR else None
        return self._export(actor, day, day, None, own, personal, f"termine-{day.isoformat()}")

    def team(
        self, actor: StaffIdentity, team_id: int, first: date, last: date, *, personal: bool = False
    ) -> Exported:
        """The appointments for the team's services from `first` to `last` (both included)."""
        actor.require(Role.ADMIN, Role.HOTLINE)
        if last < first:
            raise InvalidRequest("end before start", field="last", code="range_reversed")
        if (last - first).days >= MAX_DAYS:
            raise RangeTooLong(field="last", days=MAX_DAYS)
        name = f"termine-team-{team_id}-{first.isoformat()}-{last.isoformat()}"
        return self._export(actor, first, last, team_id, None, personal, name)

    def _export(
        self,
        actor: StaffIdentity,
        first: date,
        last: date,
        team_id: int | None,
        advisor_id: int | None,
        personal: bool,
        name: str,
    ) -> Exported:
        start = datetime.combine(first, time(), self._tz)
        end = datetime.combine(last + timedelta(days=1), time(), self._tz)
        now = self._clock()
        with write_session(self._sessions) as session:
            if team_id is not None and session.get(Team, team_id) is None:
                raise NotFound("unknown team", field="team_id")
            query = (
                select(Booking)
                .join(Service, Booking.service_id == Service.id)
                .where(
                    Booking.start_at >= start,
                    Booking.start_at < end,
                    Booking.status != BookingStatus.HELD,
                )
                .order_by(Booking.start_at, Booking.id)
            )
            if team_id is not None:
                query = query.where(Service.team_id == team_id)
            if advisor_id is not None:
                query = query.where(Booking.advisor_id == advisor_id)
            bookings = list(session.scalars(query))
            content = self._csv(bookings, personal)
            detail = f"from={first} to={last} rows={len(bookings)} personal={personal}"
            if team_id is not None:
                detail = f"team={team_id} {detail}"
            session.add(
                AuditEntry(at=now, actor_id=actor.id, action="appointments_exported", detail=detail)
            )
            if personal:
                session.add_all(
                    AuditEntry(
                        at=now, actor_id=actor.id, action="appointments_exported", booking_id=b.id
                    )
                    for b in bookings
                )
        return Exported(f"{name}.csv", content, len(bookings))

    def _csv(self, bookings: list[Booking], personal: bool) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(COLUMNS + PERSONAL if personal else COLUMNS)
        for booking in bookings:
            start = booking.start_at.astimezone(self._tz)
            row = [
                booking.reference or "",
                start.date().isoformat(),
                start.strftime("%H:%M"),
                booking.end_at.astimezone(self._tz).strftime("%H:%M"),
                booking.service.name,
                booking.advisor.name,
                booking.channel,
                booking.status,
            ]
            if personal:
                row += [booking.name, booking.phone or ""]
            writer.writerow(spreadsheet_safe(cell) for cell in row)
        # With the byte order mark Excel reads the file as UTF-8 (ä, ß stay whole).
        return out.getvalue().encode("utf-8-sig")


def spreadsheet_safe(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula would run as one
    (CSV injection), and names and services are typed by people."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
