"""Page: a staff member's own settings; for now whether the day's agenda comes by e-mail
(notifications/agenda.py). Every role may have appointments, so every role sees it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from web.deps import Services
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import render, see_other

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
PATH = "/staff/einstellungen"


@router.get(PATH)
def settings_page(
    request: Request, staff: StaffPage, services: Services, gespeichert: str = ""
) -> HTMLResponse:
    return render(
        request,
        staff,
        "staff/settings.html",
        section=PATH,
        agenda_mail=services.accounts.agenda_mail(staff),
        agenda_time=services.settings.agenda_mail_time.strftime("%H:%M"),
        saved=gespeichert == "1",
    )


@router.post(PATH, response_model=None)
def save_settings(staff: StaffPage, services: Services, form: Form) -> RedirectResponse:
    services.accounts.set_agenda_mail(staff, form.get("agenda-mail") == "on")
    return see_other(f"{PATH}?gespeichert=1")
