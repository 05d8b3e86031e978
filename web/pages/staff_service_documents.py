"""Page: the documents a service names (documents/requirements.py), kept by admins. One form
lists the entries with their German and English names and their place in the list, plus empty
lines for new ones; saving replaces the list (entries that stay keep their ids)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from documents.requirements import MAX_NAMED, NamedDocument, NamedEntry, Requirements
from scheduler.accounts import StaffIdentity
from scheduler.errors import InvalidRequest, NotFound
from scheduler.models import Service
from web.deps import Services, container, pages
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import (
    MAX_ID,
    FormErrors,
    domain_message,
    parse_id,
    render,
    require_section,
    see_other,
    text,
)

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
SECTION = "/staff/admin"
BLANK_LINES = 3
# More lines than a form of ours ever has are not read.
MAX_LINES = MAX_NAMED + BLANK_LINES


def _url(service_id: int) -> str:
    return f"/staff/admin/anliegen/{service_id}/unterlagen"


def _service(request: Request, service_id: int) -> Service:
    for service in container(request).scheduler.services():
        if service.id == service_id:
            return service
    raise NotFound("unknown service", field="service")


def _lines(named: list[NamedDocument]) -> list[dict[str, str]]:
    lines = [
        {"id": str(n.id), "name": n.name, "name_en": n.name_en or "", "position": str(i + 1)}
        for i, n in enumerate(named)
    ]
    blank = max(0, min(BLANK_LINES, MAX_NAMED - len(lines)))
    return lines + [{"id": "", "name": "", "name_en": "", "position": ""} for _ in range(blank)]


@router.get("/staff/admin/anliegen/{service_id}/unterlagen")
def named_documents(
    request: Request,
    service_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    staff: StaffPage,
    gespeichert: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    require_section(staff, SECTION)
    service = _service(request, service_id)
    named = Requirements(container(request).sessions).named(service_id)
    return _page(request, staff, service, _lines(named), FormErrors(), saved=gespeichert)


@router.post("/staff/admin/anliegen/{service_id}/unterlagen", response_model=None)
def save_named_documents(
    request: Request,
    service_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    staff: StaffPage,
    form: Form,
    services: Services,
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    service = _service(request, service_id)
    count = parse_id(text(form, "lines")) or 0
    lines = [
        {key: text(form, f"doc-{i}-{key}") for key in ("id", "name", "name_en", "position")}
        | {"remove": text(form, f"doc-{i}-remove")}
        for i in range(min(count, MAX_LINES))
    ]
    errors = FormErrors()
    order: list[tuple[int, int]] = []  # (place asked for, line)
    for i, line in enumerate(lines):
        if line["remove"] or not (line["name"] or line["name_en"]):
            continue
        place = parse_id(line["position"]) if line["position"] else len(lines) + i + 1
        if place is None:
            words = pages(request).gettext(request, "Please enter a whole number.")
            errors.add(f"doc-{i}-position", words)
            continue
        order.append((place, i))
    order.sort()
    kept = [i for _, i in order]
    if not errors:
        entries = [
            NamedEntry(lines[i]["name"], lines[i]["name_en"], parse_id(lines[i]["id"]))
            for i in kept
        ]
        try:
            Requirements(services.sessions).replace(service_id, entries)
        except InvalidRequest as exc:
            row = exc.params.get("row")
            failed = kept[row] if isinstance(row, int) else (kept[0] if kept else 0)
            field = exc.params.get("field", "name")
            errors.add(f"doc-{failed}-{field}", domain_message(request, exc))
    if errors:
        return _page(request, staff, service, lines, errors, status=422)
    return see_other(_url(service_id) + "?gespeichert=true")


def _page(
    request: Request,
    staff: StaffIdentity,
    service: Service,
    lines: list[dict[str, str]],
    errors: FormErrors,
    *,
    saved: bool = False,
    status: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {"service": service, "lines": lines, "errors": errors}
    return render(
        request,
        staff,
        "staff/service_documents.html",
        section=SECTION,
        status_code=status,
        action=_url(service.id),
        saved=saved,
        maximum=MAX_NAMED,
        **context,
    )
