"""The audit log as the data-protection officer reads it (DSGVO Art. 5(2)): filtered by
person, staff member, booking and period, a page at a time, or the whole filtered list as a
CSV file. Only administrators may read it, and every reading is itself audited, so that
nobody looks at who looked without leaving a trace.

A person is given by e-mail address or phone number and matched as the requests about a
person match them (scheduler/people.py); the audit entries about a person are those about
their bookings. The address or number searched for is never written to the log.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.accounts import StaffIdentity
from scheduler.appointment_export import spreadsheet_safe
from scheduler.db import write_session
from scheduler.errors import InvalidRequest
from scheduler.models import AuditEntry, Booking, Role, Staff
from scheduler.people import Person, bookings_of

PAGE_SIZE = 50
MAX_EXPORT = 50_000  # years of an office's log; beyond it, narrow the filter
COLUMNS = ("time", "staff_member", "action", "booking", "detail")


class ExportTooLarge(InvalidRequest):
    code = "audit_export_too_large"


@dataclass(frozen=True, slots=True)
class AuditFilter:
    person: Person | None = None
    staff_id: int | None = None
    reference: str | None = None
    first: date | None = None  # days in the office's time zone, both included
    last: date | None = None

    def summary(self) -> str:
        """What was filtered by, for the log: never the person's address or number."""
        parts = [
            "person" if self.person else "",
            f"staff={self.staff_id}" if self.staff_id else "",
            f"booking={self.reference}" if self.reference else "",
            f"from={self.first}" if self.first else "",
            f"to={self.last}" if self.last else "",
        ]
        return " ".join(p for p in parts if p) or "all"


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime  # in the office's time zone
    staff_member: str
    action: str
    reference: str
    detail: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    rows: tuple[AuditRow, ...]
    total: int
    page: int
    pages: int


class AuditLog:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime], tz: ZoneInfo
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._tz = tz

    def page(self, actor: StaffIdentity, wanted: AuditFilter, page: int = 1) -> AuditPage:
        """The `page`th page of the entries matching `wanted`, newest first; audited."""
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            query = self._query(session, wanted)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            pages = max(1, math.ceil(total / PAGE_SIZE))
            page = min(max(1, page), pages)
            found = session.execute(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
            rows = tuple(self._row(row) for row in found)
            self._note(session, actor, "audit_viewed", f"{wanted.summary()} page={page}")
        return AuditPage(rows, total, page, pages)

    def export(self, actor: StaffIdentity, wanted: AuditFilter) -> bytes:
        """Every entry matching `wanted` as CSV (`;`, UTF-8 with BOM); audited."""
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            query = self._query(session, wanted)
            found = list(session.execute(query.limit(MAX_EXPORT + 1)))
            if len(found) > MAX_EXPORT:
                raise ExportTooLarge(field="period", limit=MAX_EXPORT)
            rows = [self._row(row) for row in found]
            self._note(session, actor, "audit_exported", f"{wanted.summary()} rows={len(rows)}")
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row.at.isoformat(timespec="seconds"),
                    spreadsheet_safe(row.staff_member),
                    row.action,
                    row.reference,
                    spreadsheet_safe(row.detail),
                ]
            )
        return out.getvalue().encode("utf-8-sig")

    def _query(self, session: Session, wanted: AuditFilter) -> Any:
        query = (
            select(
                AuditEntry.at, Staff.name, AuditEntry.action, Booking.reference, AuditEntry.detail
            )
            .outerjoin(Staff, AuditEntry.actor_id == Staff.id)
            .outerjoin(Booking, AuditEntry.booking_id == Booking.id)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        )
        if wanted.person is not None:
            query = query.where(AuditEntry.booking_id.in_(bookings_of(session, wanted.person)))
        if wanted.staff_id is not None:
            query = query.where(AuditEntry.actor_id == wanted.staff_id)
        if wanted.reference:
            query = query.where(Booking.reference == wanted.reference.strip().upper())
        if wanted.first is not None:
            query = query.where(AuditEntry.at >= datetime.combine(wanted.first, time(), self._tz))
        if wanted.last is not None:
            end = datetime.combine(wanted.last + timedelta(days=1), time(), self._tz)
            query = query.where(AuditEntry.at < end)
        return query

    def _row(self, row: Any) -> AuditRow:
        at, name, action, reference, detail = row
        return AuditRow(at.astimezone(self._tz), name or "–", action, reference or "", detail)

    def _note(self, session: Session, actor: StaffIdentity, action: str, detail: str) -> None:
        session.add(AuditEntry(at=self._clock(), actor_id=actor.id, action=action, detail=detail))
