"""The documents a service names ("last notice", "proof of income"): the admin keeps the list,
the manage page and the reminder show those of a booking still missing, and the citizen picks
one as the label of an upload (`BookingDocument.requirement_id`).

A named document counts as handed in while an upload for it is pending or clean: a rejected
one (infected, lost) is missing again. Replacing a service's list keeps the ids of the entries
that stay, so that uploads keep pointing at them; a removed entry leaves its uploads unnamed
(the foreign key's `SET NULL`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from documents.desk import clean_label
from documents.errors import LabelTooLong
from documents.models import LABEL_MAX_CHARS, BookingDocument, DocumentStatus, ServiceDocument
from scheduler.db import read_session, write_session
from scheduler.errors import InvalidRequest, NotFound
from scheduler.models import Booking, Service

MAX_NAMED = 10


class NameMissing(InvalidRequest):
    code = "document_name_missing"


class NamesDuplicate(InvalidRequest):
    code = "document_names_duplicate"


class TooManyNamed(InvalidRequest):
    code = "too_many_named_documents"


@dataclass(frozen=True, slots=True)
class NamedDocument:
    id: int
    service_id: int
    position: int
    name: str
    name_en: str | None

    def display_name(self, language: str) -> str:
        """The English name for an English reader where there is one, else the German one."""
        english = language.replace("_", "-").lower().partition("-")[0] == "en"
        return self.name_en if english and self.name_en else self.name

    @classmethod
    def of(cls, row: ServiceDocument) -> NamedDocument:
        return cls(row.id, row.service_id, row.position, row.name, row.name_en or None)


@dataclass(frozen=True, slots=True)
class NamedEntry:
    """One line of an admin's new list: `id` of the entry it keeps, None for a new one."""

    name: str
    name_en: str = ""
    id: int | None = None


def named_in(session: Session, service_id: int) -> list[NamedDocument]:
    rows = session.scalars(
        select(ServiceDocument)
        .where(ServiceDocument.service_id == service_id)
        .order_by(ServiceDocument.position, ServiceDocument.id)
    )
    return [NamedDocument.of(row) for row in rows]


def missing_in(session: Session, booking_id: int) -> list[NamedDocument]:
    """The named documents of the booking's service without a pending or clean upload."""
    service_id = session.scalar(select(Booking.service_id).where(Booking.id == booking_id))
    if service_id is None:
        return []
    handed_in = set(
        session.scalars(
            select(BookingDocument.requirement_id).where(
                BookingDocument.booking_id == booking_id,
                BookingDocument.requirement_id.is_not(None),
                BookingDocument.status != DocumentStatus.REJECTED,
            )
        )
    )
    return [named for named in named_in(session, service_id) if named.id not in handed_in]


def _cleaned(entry: NamedEntry, index: int) -> NamedEntry:
    names = {}
    for language in ("name", "name_en"):
        try:
            names[language] = clean_label(getattr(entry, language))
        except LabelTooLong:
            raise LabelTooLong(field=language, row=index, maximum=LABEL_MAX_CHARS) from None
    return NamedEntry(names["name"], names["name_en"], entry.id)


class Requirements:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def named(self, service_id: int) -> list[NamedDocument]:
        with read_session(self._sessions) as session:
            return named_in(session, service_id)

    def missing(self, booking_id: int) -> list[NamedDocument]:
        with read_session(self._sessions) as session:
            return missing_in(session, booking_id)

    def replace(self, service_id: int, entries: Sequence[NamedEntry]) -> list[NamedDocument]:
        """The service's new list, in this order. Names are cleaned like a citizen's label;
        a German name is required, duplicates (either language, ignoring case) and more than
        `MAX_NAMED` entries are refused; ids of other services' entries count as new."""
        cleaned = [_cleaned(entry, index) for index, entry in enumerate(entries)]
        for index, entry in enumerate(cleaned):
            if not entry.name:
                raise NameMissing(field="name", row=index)
        if len(cleaned) > MAX_NAMED:
            raise TooManyNamed(field="name", maximum=MAX_NAMED)
        for language in ("name", "name_en"):
            seen: set[str] = set()
            for index, entry in enumerate(cleaned):
                key = getattr(entry, language).casefold()
                if key and key in seen:
                    raise NamesDuplicate(field=language, row=index)
                seen.add(key)
        with write_session(self._sessions) as session:
            if session.get(Service, service_id) is None:
                raise NotFound("unknown service", field="service")
            current = {
                row.id: row
                for row in session.scalars(
                    select(ServiceDocument).where(ServiceDocument.service_id == service_id)
                )
            }
            for position, entry in enumerate(cleaned):
                # A repeated id finds its row taken and becomes a new entry.
                row = current.pop(entry.id, None) if entry.id is not None else None
                if row is None:
                    row = ServiceDocument(service_id=service_id)
                    session.add(row)
                row.position = position
                row.name = entry.name
                row.name_en = entry.name_en or None
            for removed in current.values():
                session.delete(removed)
            session.flush()
            return named_in(session, service_id)
