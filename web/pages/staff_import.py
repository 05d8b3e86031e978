"""Pages: import of staff accounts from a CSV file (scheduler/advisor_import.py). The upload
is a dry run that lists every bad line; only a clean file offers the import, which carries
the file's text in the confirmation form, so that nothing is kept on the server between the
two steps and the import checks again what it writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from scheduler.accounts import StaffIdentity
from scheduler.advisor_import import AdvisorImport, Checked, ImportRefused
from web.deps import Services, container
from web.errors import message
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import FormErrors, domain_message, render, require_section, see_other

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
SECTION = "/staff/admin"
PATH = "/staff/admin/import"
MAX_FILE_BYTES = 1024 * 1024
# The body size limit of these pages (web/app.py): the file, and the multipart framing.
BODY_LIMIT = MAX_FILE_BYTES + 64 * 1024


def _importer(services: Services) -> AdvisorImport:
    return AdvisorImport(services.sessions, services.accounts, services.scheduler.clock)


@router.get(PATH)
def import_form(
    request: Request,
    staff: StaffPage,
    importiert: Annotated[int | None, Query(ge=0, le=100_000)] = None,
) -> HTMLResponse:
    require_section(staff, SECTION)
    return _page(request, staff, FormErrors(), imported=importiert)


@router.post(PATH)
async def dry_run(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse:
    try:
        require_section(staff, SECTION)
        upload = form.get("file")
        data = await _read(upload) if isinstance(upload, UploadFile) else None
    finally:
        await form.close()  # the upload's temporary file
    return await run_in_threadpool(_checked_page, request, staff, services, data)


def _checked_page(
    request: Request, staff: StaffIdentity, services: Services, data: bytes | None
) -> HTMLResponse:
    errors = FormErrors()
    if data is None:
        errors.add("file", message(request, "import_no_file"))
        return _page(request, staff, errors, status=422)
    if len(data) > MAX_FILE_BYTES:
        errors.add("file", message(request, "import_file_too_large"))
        return _page(request, staff, errors, status=413)
    checked = _importer(services).check(staff, data)
    text = data.decode("utf-8-sig") if checked.clean else ""
    status = 422 if checked.problems else 200
    return _page(request, staff, errors, checked=checked, text=text, status=status)


@router.post(PATH + "/ausfuehren", response_model=None)
def run_import(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    raw = form.get("csv")
    data = raw.encode("utf-8") if isinstance(raw, str) else b""
    try:
        count = _importer(services).run(staff, data)
    except ImportRefused as exc:
        errors = FormErrors()
        errors.add("file", domain_message(request, exc))
        checked = _importer(services).check(staff, data)
        return _page(request, staff, errors, checked=checked, status=409)
    return see_other(f"{PATH}?importiert={count}")


async def _read(upload: UploadFile) -> bytes | None:
    """The file's bytes, at most one past the limit; None when no file was chosen."""
    if not upload.filename:
        return None
    return await upload.read(MAX_FILE_BYTES + 1)


def _page(
    request: Request,
    staff: StaffIdentity,
    errors: FormErrors,
    *,
    checked: Checked | None = None,
    text: str = "",
    imported: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        staff,
        "staff/admin_import.html",
        section=SECTION,
        status_code=status,
        errors=errors,
        checked=checked,
        problem_text=lambda code: message(request, code),
        csv_text=text,
        services=container(request).scheduler.services(),
        imported=imported,
    )
