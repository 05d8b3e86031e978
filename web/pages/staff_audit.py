"""Pages: the audit viewer for the data-protection officer, who uses an administrator's
account (scheduler/audit_view.py): filters in a GET form, so that a filtered page can be
bookmarked and paged through, and the filtered list as a CSV file."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from scheduler.audit_view import AuditFilter, AuditLog
from scheduler.errors import InvalidRequest
from scheduler.people import Person
from web.deps import Services
from web.pages.session import StaffPage
from web.pages.staff_common import (
    FormErrors,
    OptionalDate,
    OptionalId,
    domain_message,
    render,
    require_section,
)

router = APIRouter(include_in_schema=False)

SECTION = "/staff/admin"
PATH = "/staff/protokoll"
Text = Annotated[str, Query(max_length=320)]
FIELDS = {"person": "email", "period": "von"}


def _log(services: Services) -> AuditLog:
    return AuditLog(services.sessions, services.scheduler.clock, services.scheduler.tz)


def _filter(
    email: str, telefon: str, mitarbeiter: int | None, buchung: str, von: Any, bis: Any
) -> AuditFilter:
    person = Person(email=email, phone=telefon) if email.strip() or telefon.strip() else None
    return AuditFilter(person, mitarbeiter, buchung.strip() or None, von, bis)


@router.get(PATH)
def audit_page(
    request: Request,
    staff: StaffPage,
    services: Services,
    email: Text = "",
    telefon: Text = "",
    mitarbeiter: OptionalId = None,
    buchung: Annotated[str, Query(max_length=16)] = "",
    von: OptionalDate = None,
    bis: OptionalDate = None,
    seite: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    require_section(staff, SECTION)
    values = {
        "email": email,
        "telefon": telefon,
        "mitarbeiter": str(mitarbeiter or ""),
        "buchung": buchung,
        "von": von.isoformat() if von else "",
        "bis": bis.isoformat() if bis else "",
    }
    errors = FormErrors()
    found = None
    try:
        wanted = _filter(email, telefon, mitarbeiter, buchung, von, bis)
        found = _log(services).page(staff, wanted, seite)
    except InvalidRequest as exc:
        errors.add(FIELDS.get(str(exc.params.get("field")), "email"), domain_message(request, exc))
    query = {k: v for k, v in values.items() if v}
    return render(
        request,
        staff,
        "staff/protokoll.html",
        section=SECTION,
        status_code=422 if errors else 200,
        errors=errors,
        values=values,
        found=found,
        staff_choices=[(str(p.id), p.name) for p, _ in services.catalogue.advisors(staff)],
        page_url=lambda number: f"{PATH}?{urlencode(query | {'seite': number})}",
        export_query=query,
    )


@router.get(PATH + ".csv")
def audit_export(
    staff: StaffPage,
    services: Services,
    email: Text = "",
    telefon: Text = "",
    mitarbeiter: OptionalId = None,
    buchung: Annotated[str, Query(max_length=16)] = "",
    von: OptionalDate = None,
    bis: OptionalDate = None,
) -> Response:
    require_section(staff, SECTION)
    wanted = _filter(email, telefon, mitarbeiter, buchung, von, bis)
    return Response(
        _log(services).export(staff, wanted),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="protokoll.csv"',
            "Cache-Control": "no-store",
        },
    )
