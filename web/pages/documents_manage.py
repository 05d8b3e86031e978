"""Pages: the citizen hands in and deletes documents on the appointment page (`/termin`,
reached through the magic link), section `#unterlagen` (web/pages/documents_section.py).

Without JavaScript every action is a form POST that redirects back (PRG) or, when refused,
renders the page again with a 4xx status and an error summary. With JavaScript
(static/js/documents-upload.js) the same form is sent by XMLHttpRequest with `Accept:
application/json`, shows its progress, and the section is fetched again as a fragment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as FormFile

from documents.checks import Refused
from documents.errors import RequirementUnknown
from documents.requirements import Requirements
from scheduler.errors import SchedulerError
from scheduler.views import BookingInfo
from web.deps import Services, container, pages
from web.document_uploads import hand_in
from web.errors import REFUSAL_STATUS, local_times, message, status_of
from web.pages.booking_common import cookie_booking
from web.pages.documents_section import section
from web.pages.manage import LinkRoute, _join, _render
from web.pages.security import check_csrf, verified_form
from web.pages.staff_common import MAX_ID, parse_id, text

router = APIRouter(include_in_schema=False, route_class=LinkRoute)

Linked = Annotated[tuple[str, BookingInfo], Depends(cookie_booking)]
Form = Annotated[FormData, Depends(verified_form)]
# The form's field ids by the `field` a refusal names.
FIELDS = {
    "file": "documents-file",
    "label": "documents-label",
    "requirement": "documents-requirement",
}


def _page(
    request: Request, booking: BookingInfo, status: int, error: tuple[str, str], **values: str
) -> HTMLResponse:
    """The appointment page again, with the problem in the documents section."""
    return _render(
        request,
        "manage/booking.html",
        booking,
        status_code=status,
        join=_join(request, booking),
        done=None,
        documents=section(request, booking, errors=[error], **values),
    )


def _problem(request: Request, exc: Refused | SchedulerError) -> tuple[int, str, str]:
    """Status, field id and the words for a refused hand-in or delete."""
    if isinstance(exc, Refused):
        return REFUSAL_STATUS.get(exc.code, 422), FIELDS["file"], message(request, exc.code)
    params, _ = local_times(request, exc.params)
    status = _status(exc)
    field = FIELDS.get(str(exc.params.get("field", "")), FIELDS["file"])
    return status, field, message(request, exc.code, **params)


def _status(exc: SchedulerError) -> int:
    try:
        status = status_of(exc)
    except StopIteration:  # an error of the family without a status of its own
        return 400
    return status if 400 <= status < 500 else 400


def _files(form: FormData) -> list[UploadFile]:
    """The files chosen: from the file input, the camera input, or both."""
    chosen = []
    for name in ("file", "photo"):
        value = form.get(name)
        if isinstance(value, FormFile) and (value.filename or value.size):
            # FastAPI's UploadFile is Starlette's with a schema; the form parser makes these.
            chosen.append(cast(UploadFile, value))
    return chosen


async def _upload_form(request: Request) -> AsyncIterator[FormData]:
    """The form with its files, after the CSRF check; the files' temporary copies are closed
    when the answer is sent, or refused (parsed here, not by FastAPI: nobody else does)."""
    form = await request.form()
    try:
        check_csrf(request, form)
        yield form
    finally:
        await form.close()


@router.post("/termin/unterlagen", response_model=None)
def upload(
    request: Request,
    linked: Linked,
    form: Annotated[FormData, Depends(_upload_form)],
    services: Services,
) -> Response:
    _, booking = linked
    label, requirement = text(form, "label"), text(form, "requirement")
    as_json = request.headers.get("accept", "").startswith("application/json")
    files = _files(form)
    try:
        requirement_id = parse_id(requirement) if requirement else None
        if requirement and requirement_id is None:
            raise RequirementUnknown(field="requirement")
        if requirement_id is not None and not label:
            label = _named_label(request, booking, requirement_id)
        if not files:
            raise Refused("empty")
        for upload_file in files:
            hand_in(services, booking.id, upload_file, label, requirement_id)
    except (Refused, SchedulerError) as exc:
        status, field, words = _problem(request, exc)
        if not files and isinstance(exc, Refused):
            words = pages(request).gettext(request, "Please choose a file or take a photo.")
        if as_json:
            return JSONResponse({"field": field, "message": words}, status_code=status)
        values = {"label": text(form, "label"), "requirement": requirement}
        return _page(request, booking, status, (field, words), **values)
    if as_json:
        return JSONResponse({"handed_in": len(files)}, status_code=201)
    return RedirectResponse("/termin?unterlagen=abgegeben#unterlagen", status_code=303)


def _named_label(request: Request, booking: BookingInfo, requirement_id: int) -> str:
    """The label of an upload for a named document: its name in the page's language."""
    language = pages(request).language(request)
    for named in Requirements(container(request).sessions).named(booking.service_id):
        if named.id == requirement_id:
            return named.display_name(language)
    raise RequirementUnknown(field="requirement")


@router.post("/termin/unterlagen/{document_id}/loeschen", response_model=None)
def delete(
    request: Request,
    document_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    linked: Linked,
    form: Form,
    services: Services,
) -> Response:
    _, booking = linked
    try:
        services.documents.delete(booking.id, document_id)
    except SchedulerError as exc:
        status, _, words = _problem(request, exc)
        return _page(request, booking, status, ("documents-title", words))
    services.page_images.forget(document_id)
    return RedirectResponse("/termin?unterlagen=geloescht#unterlagen", status_code=303)


@router.get("/termin/unterlagen/abschnitt")
def fragment(request: Request, linked: Linked) -> Response:
    """The section alone, for the script to refresh the list after an upload and while the
    virus scan runs."""
    _, booking = linked
    return pages(request).render(
        request, "manage/_documents.html", documents=section(request, booking)
    )
