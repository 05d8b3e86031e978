"""Pages: joining the waiting list of a concern (`/warteliste?anliegen=<id>`, for citizens,
without JavaScript) and the staff's view of the lists with a form to add a caller
(`/staff/warteliste`).

The citizen's form has the booking form's protection: CSRF, the ALTCHA proof of work and the
booking budget of web/protection.py (`check_booking`, the same budget as the API's
`POST /api/v1/waitlist`). The entry's own page is `/w/{token}` (web/pages/offer.py). The
people on one list, and taking one off it, are web/pages/staff_waitlist.py, added to this
router.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.errors import AlreadyWaiting, InvalidRequest, NotFound, PermissionDenied
from scheduler.models import Channel
from scheduler.waitlist import JoinRequest, QueueInfo
from scheduler.waitlist_line import may_manage
from scheduler.waitlist_models import DayPart
from web.deps import Renderer, Services, check_booking, pages
from web.pages import staff_waitlist
from web.pages.booking_common import ServiceText
from web.pages.form_values import (
    EMAIL,
    LANGUAGES,
    email_problem,
    form_text,
    name_problem,
    phone_problem,
)
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import parse_id, render, see_other
from web.protection import AltchaRejected
from web.routing import add_routes

router = APIRouter(include_in_schema=False)
add_routes(router, staff_waitlist.router)

Form = Annotated[FormData, Depends(verified_form)]
PATH = "/warteliste"
STAFF_PATH = staff_waitlist.STAFF_PATH
WEEKDAYS = (0, 1, 2, 3, 4)  # the office's working days; Saturday and Sunday are closed
DAY_PARTS = tuple(part.value for part in DayPart)


# Field name -> the id of its input, which the error summary links to.
FIELD_IDS = {
    "service": "field-service",
    "name": "field-name",
    "email": "field-email",
    "channel": "field-channel",
    "phone": "field-phone",
    "language": "field-language",
    "altcha": "field-altcha",
}


@dataclass
class Entry:
    """What the form holds; `errors` maps a field to the English text of its problem."""

    service_id: int | None = None
    name: str = ""
    email: str = ""
    channel: str = ""
    phone: str = ""
    language: str = "de"
    weekdays: list[int] = field(default_factory=list)
    day_parts: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def request(self) -> JoinRequest:
        assert self.service_id is not None
        return JoinRequest(
            service_id=self.service_id,
            name=self.name,
            email=str(EMAIL.validate_python(self.email)),
            channel=self.channel,
            phone=self.phone or None,
            weekdays=self.weekdays,
            day_parts=self.day_parts,
            language=self.language,
        )


def read_entry(form: FormData, services: list[ServiceText]) -> Entry:
    """The form's values, checked as the API checks them; the problems in `errors`."""
    entry = Entry(
        service_id=parse_id(form_text(form, "anliegen")),
        name=form_text(form, "name"),
        email=form_text(form, "email"),
        channel=form_text(form, "kanal"),
        phone=form_text(form, "phone"),
        language=form_text(form, "language"),
        weekdays=sorted({int(v) for v in form.getlist("tage") if v in {str(d) for d in WEEKDAYS}}),
        day_parts=sorted({v for v in form.getlist("tageszeit") if v in DAY_PARTS}),
    )
    errors = entry.errors
    chosen = next((s for s in services if s.id == entry.service_id), None)
    if chosen is None:
        errors["service"] = "Choose your concern."
    problems = {
        "name": name_problem(entry.name),
        "email": email_problem(entry.email, required=True),
    }
    errors.update({name: problem for name, problem in problems.items() if problem})
    if entry.channel not in {c.value for c in Channel} or (
        chosen is not None and entry.channel not in chosen.channels
    ):
        errors["channel"] = "Choose how the consultation should take place."
    missing = "Enter the phone number we should call." if entry.channel == Channel.PHONE else None
    if (problem := phone_problem(entry.phone, missing=missing)) is not None:
        errors["phone"] = problem
    if entry.language not in LANGUAGES:
        errors["language"] = "Choose the language of the consultation."
    return entry


def _domain_refusal(entry: Entry, error: InvalidRequest) -> bool:
    """The engine's refusal at the form's field; False for one the form has no words for."""
    messages = {
        "phone_required": ("phone", "Enter the phone number we should call."),
        "email_required": ("email", "Enter your e-mail address."),
        "channel_not_offered": ("channel", "Choose how the consultation should take place."),
    }
    found = messages.get(error.code)
    if found is None:
        return False
    entry.errors[found[0]] = found[1]
    return True


# -- the citizen's page ------------------------------------------------------------------------


def _offered(services: Services, language: str) -> list[ServiceText]:
    return [ServiceText.of(s, language) for s in services.scheduler.services()]


def _form_page(
    request: Request,
    renderer: Renderer,
    offered: list[ServiceText],
    entry: Entry,
    status_code: int = 200,
    *,
    already: bool = False,
) -> HTMLResponse:
    return renderer.render(
        request,
        "citizen/waitlist.html",
        status_code=status_code,
        services=offered,
        entry=entry,
        chosen=next((s for s in offered if s.id == entry.service_id), None),
        field_ids=FIELD_IDS,
        weekdays=WEEKDAYS,
        day_parts=DAY_PARTS,
        already=already,
    )


@router.get(PATH)
def join_form(
    request: Request,
    renderer: Renderer,
    services: Services,
    anliegen: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    language = renderer.language(request)
    offered = _offered(services, language)
    entry = Entry(service_id=parse_id(anliegen), language=language)
    chosen = next((s for s in offered if s.id == entry.service_id), None)
    if chosen is None:
        entry.service_id = None
    elif len(chosen.channels) == 1:
        entry.channel = chosen.channels[0]
    return _form_page(request, renderer, offered, entry)


@router.post(PATH, response_model=None)
def join(request: Request, form: Form, renderer: Renderer, services: Services) -> Response:
    offered = _offered(services, renderer.language(request))
    entry = read_entry(form, offered)
    if entry.errors:
        return _form_page(request, renderer, offered, entry, 422)
    try:
        check_booking(request, form_text(form, "altcha") or None)
    except AltchaRejected:
        entry.errors["altcha"] = (
            "The automatic check against bots failed. Please send the form again."
        )
        return _form_page(request, renderer, offered, entry, 422)
    try:
        joined = services.waitlist.join(entry.request())
    except AlreadyWaiting:
        return _form_page(request, renderer, offered, entry, 409, already=True)
    except InvalidRequest as error:
        if not _domain_refusal(entry, error):
            raise
        return _form_page(request, renderer, offered, entry, 422)
    token = services.waitlist.entry_token(joined)
    chosen = next(s for s in offered if s.id == joined.service_id)
    return renderer.render(
        request,
        "citizen/waitlist_joined.html",
        entry=joined,
        service=chosen,
        entry_url=f"/w/{token}",
        offer_hours=services.settings.offer_hours,
    )


# -- the staff's page --------------------------------------------------------------------------


def _staff_page(
    request: Request,
    staff: StaffIdentity,
    services: Services,
    entry: Entry,
    status_code: int = 200,
    *,
    added: int | None = None,
    already: bool = False,
) -> HTMLResponse:
    queues = services.waitlist.queues(staff)
    return render(
        request,
        staff,
        "staff/waitlist.html",
        section=STAFF_PATH,
        status_code=status_code,
        queues=queues,
        entry=entry,
        services=_choices(request, services, queues),
        field_ids=FIELD_IDS,
        weekdays=WEEKDAYS,
        day_parts=DAY_PARTS,
        tz=services.scheduler.tz,
        added=added,
        already=already,
        lines_shown=may_manage(staff),
    )


def _choices(request: Request, services: Services, queues: list[QueueInfo]) -> list[ServiceText]:
    """The concerns this staff member may add callers to: those whose lists they see."""
    visible = {q.service_id for q in queues}
    language = pages(request).language(request)
    offered = services.scheduler.services()
    return [ServiceText.of(s, language) for s in offered if s.id in visible]


@router.get(STAFF_PATH)
def staff_overview(
    request: Request,
    staff: StaffPage,
    services: Services,
    renderer: Renderer,
    platz: Annotated[str, Query(max_length=10)] = "",
    eingetragen: Annotated[str, Query(max_length=2)] = "",
) -> HTMLResponse:
    entry = Entry(language=renderer.language(request))
    added = (parse_id(platz) or 0) if eingetragen else None
    return _staff_page(request, staff, services, entry, added=added)


@router.post(STAFF_PATH, response_model=None)
def staff_add(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    entry = read_entry(form, _choices(request, services, services.waitlist.queues(staff)))
    if entry.errors:
        return _staff_page(request, staff, services, entry, 422)
    try:
        joined = services.waitlist.add_by_staff(staff, entry.request())
    except AlreadyWaiting:
        return _staff_page(request, staff, services, entry, 409, already=True)
    except (NotFound, PermissionDenied):
        entry.errors["service"] = "Choose your concern."
        return _staff_page(request, staff, services, entry, 422)
    except InvalidRequest as error:
        if not _domain_refusal(entry, error):
            raise
        return _staff_page(request, staff, services, entry, 422)
    return see_other(f"{STAFF_PATH}?eingetragen=1&platz={joined.position or 0}")
