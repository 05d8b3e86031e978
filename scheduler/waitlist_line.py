"""The waiting list of one concern as the office sees it: the people in line, one by one, so
that staff can take someone off it when they ask by phone or letter (`Waitlist.remove`).

Only the roles that may remove see the line (administrators and hotline, as `Waitlist.remove`
requires): it names people, where the overview of every role (`Waitlist.queues`) only counts.
The line is in the order the offer loop goes through it (`LINE_ORDER`): an entry with an open
offer keeps its place but has no position, as in `Waitlist.join`'s answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.db import read_session
from scheduler.errors import NotFound
from scheduler.models import Role, Service
from scheduler.waitlist_models import (
    ACTIVE,
    LINE_ORDER,
    EntryStatus,
    OfferStatus,
    WaitlistEntry,
    WaitlistOffer,
)

if TYPE_CHECKING:
    from scheduler.accounts import StaffIdentity

# Who may see the line and take people off it: the roles `Waitlist.remove` requires.
MANAGERS = (Role.ADMIN, Role.HOTLINE)
SHOWN = 200  # people listed at most; a search finds those further back
MAX_SEARCH = 100


@dataclass(frozen=True, slots=True)
class LineEntry:
    id: int
    service_id: int
    name: str
    email: str | None
    phone: str | None
    channel: str
    status: str
    priority: bool
    created_at: datetime
    position: int | None  # among the waiting; None for an open offer or an entry that ended
    offer_expires_at: datetime | None  # the open offer's end


@dataclass(frozen=True, slots=True)
class Line:
    service_id: int
    service_name: str
    total: int  # the people on the list (matching the search, if any)
    entries: list[LineEntry]  # the first `SHOWN` of them, in line


def may_manage(actor: StaffIdentity) -> bool:
    return actor.role in MANAGERS


def line(
    sessions: sessionmaker[Session], actor: StaffIdentity, service_id: int, search: str = ""
) -> Line:
    """The people on the waiting list of a service, in line; with `search`, those whose name
    or e-mail address contains it (case does not matter)."""
    actor.require(*MANAGERS)
    found = search.strip().lower()[:MAX_SEARCH]
    with read_session(sessions) as session:
        name = session.scalar(select(Service.name).where(Service.id == service_id))
        if name is None:
            raise NotFound("unknown service", field="service_id")
        where = [WaitlistEntry.service_id == service_id, WaitlistEntry.status.in_(ACTIVE)]
        if found:
            where.append(_matching(found))
        total = session.scalar(select(func.count()).select_from(WaitlistEntry).where(*where))
        entries = _entries(session, service_id, where, SHOWN)
    return Line(service_id, name, total or 0, entries)


def entry(sessions: sessionmaker[Session], actor: StaffIdentity, entry_id: int) -> Line:
    """One entry with its service, as `line` shows it (also one that ended)."""
    actor.require(*MANAGERS)
    with read_session(sessions) as session:
        found = session.execute(
            select(WaitlistEntry.service_id, Service.name)
            .join(Service, Service.id == WaitlistEntry.service_id)
            .where(WaitlistEntry.id == entry_id)
        ).first()
        if found is None:
            raise NotFound("unknown waiting-list entry", field="entry")
        service_id, name = found
        entries = _entries(session, service_id, [WaitlistEntry.id == entry_id], 1)
    return Line(service_id, name, 1, entries)


def _matching(found: str) -> ColumnElement[bool]:
    return or_(
        func.lower(WaitlistEntry.name).contains(found, autoescape=True),
        func.lower(WaitlistEntry.email).contains(found, autoescape=True),
    )


def _entries(
    session: Session, service_id: int, where: list[ColumnElement[bool]], limit: int
) -> list[LineEntry]:
    # The place among everybody waiting, counted before the search narrows the rows down.
    ranked = (
        select(
            WaitlistEntry.id.label("id"),
            func.row_number().over(order_by=LINE_ORDER).label("place"),
        )
        .where(WaitlistEntry.service_id == service_id, WaitlistEntry.status == EntryStatus.WAITING)
        .subquery()
    )
    place: ColumnElement[int | None] = ranked.c.place
    rows = session.execute(
        select(WaitlistEntry, place, WaitlistOffer.expires_at)
        .outerjoin(ranked, ranked.c.id == WaitlistEntry.id)
        .outerjoin(
            WaitlistOffer,
            (WaitlistOffer.entry_id == WaitlistEntry.id)
            & (WaitlistOffer.status == OfferStatus.OPEN),
        )
        .where(*where)
        .order_by(*LINE_ORDER)
        .limit(limit)
    )
    return [
        LineEntry(
            id=row.id,
            service_id=row.service_id,
            name=row.name,
            email=row.email,
            phone=row.phone,
            channel=row.channel,
            status=row.status,
            priority=row.priority,
            created_at=row.created_at,
            position=position,
            offer_expires_at=expires,
        )
        for row, position, expires in rows
    ]
