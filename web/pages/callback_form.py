"""Page: a citizen asks to be called back (`/rueckruf?anliegen=<id>`), without JavaScript.

The form has the booking form's protection, as the waiting list's (web/pages/waitlist_pages.py):
CSRF, the ALTCHA proof of work and the booking budget of web/protection.py (`check_booking`, the
same budget as the API's `POST /api/v1/callbacks`). The fields are read and checked in
web/pages/callback_fields.py; the rules of a request are the engine's (`CallbackDesk.request`).
The request's own page, where it can be withdrawn, is `/r/{token}` (web/pages/callback_request.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from scheduler.errors import InvalidRequest, NotFound, TooManyOpenCallbacks
from web.deps import Renderer, Services, check_booking
from web.pages.booking_common import ServiceText
from web.pages.callback_fields import (
    CallbackEntry,
    callback_context,
    office_days,
    read_callback,
)
from web.pages.once import at_most_once
from web.pages.security import verified_form
from web.pages.staff_common import parse_id
from web.protection import AltchaRejected

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
PATH = "/rueckruf"


def _offered(services: Services, language: str) -> list[ServiceText]:
    return [ServiceText.of(s, language) for s in services.scheduler.services()]


def _form_page(
    request: Request,
    renderer: Renderer,
    services: Services,
    offered: list[ServiceText],
    entry: CallbackEntry,
    status_code: int = 200,
    *,
    too_many: int | None = None,
) -> HTMLResponse:
    return renderer.render(
        request,
        "citizen/callback_form.html",
        status_code=status_code,
        too_many=too_many,
        **callback_context(entry, offered, office_days(services.scheduler)),
    )


@router.get(PATH)
def callback_form(
    request: Request,
    renderer: Renderer,
    services: Services,
    # Any text: a garbled link only preselects nothing.
    anliegen: Annotated[str, Query()] = "",
) -> HTMLResponse:
    language = renderer.language(request)
    offered = _offered(services, language)
    chosen = parse_id(anliegen)
    entry = CallbackEntry(
        service_id=chosen if any(s.id == chosen for s in offered) else None, language=language
    )
    return _form_page(request, renderer, services, offered, entry)


@router.post(PATH, response_model=None)
def ask_for_callback(
    request: Request, form: Form, renderer: Renderer, services: Services
) -> Response:
    offered = _offered(services, renderer.language(request))
    scheduler = services.scheduler
    now = scheduler.clock()
    entry = read_callback(form, offered, office_days(scheduler, now), now, scheduler.tz)
    if entry.errors:
        return _form_page(request, renderer, services, offered, entry, 422)
    altcha = form.get("altcha")
    proof = altcha.strip() if isinstance(altcha, str) else ""
    try:
        check_booking(request, proof or None)
    except AltchaRejected:
        entry.errors["altcha"] = (
            "The automatic check against bots failed. Please send the form again."
        )
        return _form_page(request, renderer, services, offered, entry, 422)
    try:
        callback = at_most_once(
            form, "callback-page", lambda once: services.callbacks.request(entry.input(), once)
        )
    except TooManyOpenCallbacks:
        maximum = services.callbacks.config.max_open_per_person
        return _form_page(request, renderer, services, offered, entry, 409, too_many=maximum)
    except (InvalidRequest, NotFound) as error:
        if not entry.refused(error):
            raise
        return _form_page(request, renderer, services, offered, entry, 422)
    token = services.callbacks.withdraw_token(callback)
    chosen = next((s for s in offered if s.id == callback.service_id), None)
    return renderer.render(
        request,
        "citizen/callback_sent.html",
        callback=callback,
        service_name=chosen.name if chosen else callback.service_name,
        windows=entry.windows,  # as chosen, in the order of the rows
        request_url=f"/r/{token}",
    )
