"""What the documents section of the appointment page shows (`manage/_documents.html`): the
documents handed in with their state in plain words, the named documents still missing, and
whether the upload form and the delete buttons are there. Its own module, so that the
appointment page (web/pages/manage.py) and the document handlers (documents_manage.py) both
build it without importing each other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from babel.numbers import format_decimal
from fastapi import Request

from documents.desk import INFECTED, DocumentInfo
from documents.models import DocumentStatus
from documents.requirements import Requirements
from scheduler.models import BookingStatus
from scheduler.views import BookingInfo
from web.deps import container, pages

# `?unterlagen=` on the appointment page after a POST (PRG) → what the notice says.
NOTICES = {"abgegeben": "handed_in", "geloescht": "deleted"}


@dataclass(frozen=True, slots=True)
class HandedIn:
    id: int
    title: str  # the label, else the file's name
    name: str
    size: str
    state: str  # "pending" | "clean" | "infected" | "lost"


@dataclass(frozen=True, slots=True)
class DocumentsSection:
    documents: list[HandedIn]
    named: bool  # whether the service names any documents
    missing: list[tuple[int, str]]  # (id, name in the page's language)
    can_upload: bool
    can_delete: bool
    begun: bool  # the appointment has begun: deleting is over
    checking: bool  # some document waits for the virus scan: the script polls
    max_file_mb: str
    notice: str | None = None
    errors: Sequence[tuple[str, str]] = ()  # (field id, message)
    label: str = ""
    requirement: str = ""


def _state(document: DocumentInfo) -> str:
    if document.status == DocumentStatus.PENDING:
        return "pending"
    if document.status == DocumentStatus.CLEAN:
        return "clean"
    # Rejected: found infected by clamd, or its bytes were lost (MISSING, CORRUPT).
    return "infected" if document.reason == INFECTED else "lost"


def file_size(size: int, language: str) -> str:
    """A size as people read it, e.g. "1,2 MB" or "300 KB"."""
    if size >= 1024 * 1024:
        return f"{format_decimal(size / (1024 * 1024), '0.0', locale=language)} MB"
    return f"{format_decimal(max(1, round(size / 1024)), '0', locale=language)} KB"


def section(
    request: Request,
    booking: BookingInfo,
    *,
    errors: Sequence[tuple[str, str]] = (),
    label: str = "",
    requirement: str = "",
) -> DocumentsSection | None:
    """The section for a booking that is not cancelled, else None (the page shows none)."""
    if booking.status == BookingStatus.CANCELLED:
        return None
    services = container(request)
    language = pages(request).language(request)
    now = services.scheduler.clock()
    confirmed = booking.status == BookingStatus.CONFIRMED
    requirements = Requirements(services.sessions)
    documents = services.documents.documents(booking.id)
    notice = NOTICES.get(request.query_params.get("unterlagen", "")) if not errors else None
    return DocumentsSection(
        documents=[
            HandedIn(d.id, d.label or d.name, d.name, file_size(d.size, language), _state(d))
            for d in documents
        ],
        named=bool(requirements.named(booking.service_id)),
        missing=[(n.id, n.display_name(language)) for n in requirements.missing(booking.id)],
        can_upload=confirmed and now < booking.end,
        can_delete=confirmed and now < booking.start,
        begun=now >= booking.start,
        checking=any(d.status == DocumentStatus.PENDING for d in documents),
        max_file_mb=format_decimal(
            services.documents.limits.max_file_bytes / (1024 * 1024), "0.#", locale=language
        ),
        notice=notice,
        errors=errors,
        label=label,
        requirement=requirement,
    )
