"""Pages: the people on one concern's waiting list, and taking one of them off it when they
ask by phone or letter (`Waitlist.remove`, for administrators and hotline; scheduler/
waitlist_line.py lists them).

Removing has its own page first: it names the person and says what follows (an open offer
passes on; no e-mail goes out, staff tell the person themselves), above a POST form with the
CSRF token. The removal redirects to the list with a notice; a second one changes nothing.
The routes are added to the router of web/pages/waitlist_pages.py, whose overview links here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.waitlist_line import MAX_SEARCH, SHOWN, entry, line
from scheduler.waitlist_models import ACTIVE
from web.deps import Services
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import render, see_other

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
STAFF_PATH = "/staff/warteliste"
LINE_PATH = STAFF_PATH + "/anliegen/{service_id}"
REMOVE_PATH = STAFF_PATH + "/eintrag/{entry_id}/entfernen"


def line_url(service_id: int) -> str:
    return LINE_PATH.format(service_id=service_id)


@router.get(LINE_PATH)
def waiting_line(
    request: Request,
    staff: StaffPage,
    services: Services,
    service_id: int,
    suche: Annotated[str, Query(max_length=MAX_SEARCH)] = "",
    entfernt: Annotated[str, Query(max_length=2)] = "",
) -> HTMLResponse:
    found = line(services.scheduler.sessions, staff, service_id, suche)
    return render(
        request,
        staff,
        "staff/waitlist_line.html",
        section=STAFF_PATH,
        line=found,
        search=suche.strip(),
        shown=SHOWN,
        removed=bool(entfernt),
    )


@router.get(REMOVE_PATH)
def remove_check(
    request: Request, staff: StaffPage, services: Services, entry_id: int
) -> HTMLResponse:
    found = entry(services.scheduler.sessions, staff, entry_id)
    person = found.entries[0]
    return render(
        request,
        staff,
        "staff/waitlist_remove.html",
        section=STAFF_PATH,
        line=found,
        person=person,
        active=person.status in ACTIVE,
        back=line_url(found.service_id),
    )


@router.post(REMOVE_PATH)
def remove(staff: StaffPage, form: Form, services: Services, entry_id: int) -> RedirectResponse:
    removed = services.waitlist.remove(staff, entry_id)
    return see_other(line_url(removed.service_id) + "?entfernt=1")
