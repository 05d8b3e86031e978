"""Pages: the e-mails the outbox gave up on, for administrators (notifications/dead_mail.py),
each with its error and a button to send it again, and one to send them all again. Sending
again is no harm done twice, so it needs no page of its own before it; the answer leads back
to the list with a notice of how many went back to the outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from web.deps import Services
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import render, require_section, see_other

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
SECTION = "/staff/admin"
PATH = "/staff/admin/unzustellbar"


@router.get(PATH)
def dead_letters(
    request: Request,
    staff: StaffPage,
    services: Services,
    seite: Annotated[int, Query(ge=1, le=100_000)] = 1,
    gesendet: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> HTMLResponse:
    require_section(staff, SECTION)
    found = services.dead_mail.list(staff, seite)
    return render(
        request,
        staff,
        "staff/dead_mail.html",
        section=SECTION,
        found=found,
        resent=gesendet,
        path=PATH,
    )


@router.post(PATH + "/{message_id}/senden")
def resend(staff: StaffPage, form: Form, services: Services, message_id: int) -> RedirectResponse:
    require_section(staff, SECTION)
    resent = services.dead_mail.resend(staff, message_id)
    return see_other(f"{PATH}?gesendet={int(resent)}")


@router.post(PATH + "/alle-senden")
def resend_all(staff: StaffPage, form: Form, services: Services) -> RedirectResponse:
    require_section(staff, SECTION)
    return see_other(f"{PATH}?gesendet={services.dead_mail.resend_all(staff)}")
