"""Pages: administration of services, teams and staff, checked with the API's schemas and
created through the same catalogue as `POST /api/v1/services`, `/teams` and `/advisors`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.catalogue import AdvisorSpec, ServiceSpec
from scheduler.errors import InvalidRequest, NotFound
from scheduler.models import Role
from web.deps import Services, container, pages
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import (
    MAX_ID,
    FormErrors,
    add_domain_error,
    parse_id,
    render,
    require_section,
    see_other,
    text,
    texts,
    validate,
)
from web.schemas import AdvisorIn, ServiceIn, TeamIn

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
SECTION = "/staff/admin"
Kind = Literal["service", "team", "advisor"]
Done = Literal["sessions", "deactivated", "callbacks", "changed", "activated", "paused"]

SERVICE_FIELDS = {
    name: f"service-{name}"
    for name in (
        "name",
        "name_en",
        "description",
        "description_en",
        "duration_minutes",
        "buffer_minutes",
        "channels",
        "min_notice_minutes",
        "horizon_days",
        "address",
        "team_id",
        "advisor_ids",
    )
}
TEAM_FIELDS = {name: f"team-{name}" for name in ("name", "email")}
ADVISOR_FIELDS = {
    name: f"advisor-{name}"
    for name in ("name", "email", "role", "service_ids", "team_id", "password")
}
SERVICE_DEFAULTS = {
    "service-duration_minutes": "30",
    "service-buffer_minutes": "0",
    "service-min_notice_minutes": "120",
    "service-horizon_days": "60",
    "service-channels": ["video", "phone", "in_person"],
}


@router.get("/staff/admin")
def admin(
    request: Request,
    staff: StaffPage,
    angelegt: Annotated[Kind | None, Query()] = None,
    erledigt: Annotated[Done | None, Query()] = None,
) -> HTMLResponse:
    require_section(staff, SECTION)
    return _admin_page(request, staff, FormErrors(), None, {}, created=angelegt, done=erledigt)


@router.post("/staff/admin/mitarbeitende/{staff_id}/sitzungen-beenden")
def end_sessions(
    staff_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    staff: StaffPage,
    form: Form,
    services: Services,
) -> RedirectResponse:
    require_section(staff, SECTION)
    services.accounts.end_sessions(staff, staff_id)
    return see_other("/staff/admin?erledigt=sessions#staff")


@router.post("/staff/admin/anliegen/{service_id}/rueckrufe")
def callback_queue_access(
    service_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    staff: StaffPage,
    form: Form,
    services: Services,
) -> RedirectResponse:
    """Whether the advisors of a service work its callback queue (`CallbackDesk`)."""
    require_section(staff, SECTION)
    allowed = text(form, "advisors_take_callbacks") == "yes"
    services.callbacks.open_to_advisors(staff, service_id, allowed)
    return see_other("/staff/admin?erledigt=callbacks#services")


@router.post("/staff/admin/anliegen", response_model=None)
def create_service(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    errors = FormErrors()
    values, spec = service_form(request, form, errors)
    if spec is not None:
        try:
            services.catalogue.create_service(staff, spec)
        except (InvalidRequest, NotFound) as exc:
            add_domain_error(request, errors, exc, SERVICE_FIELDS)
    if errors:
        return _admin_page(request, staff, errors, "service", values, status=422)
    return see_other("/staff/admin?angelegt=service#services")


@router.post("/staff/admin/teams", response_model=None)
def create_team(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    values = _values(form, TEAM_FIELDS)
    errors = FormErrors()
    data = {"name": values["team-name"], "email": values["team-email"] or None}
    body = validate(request, TeamIn, data, TEAM_FIELDS, errors)
    if body is not None:
        email = str(body.email) if body.email else None
        try:
            services.catalogue.create_team(staff, body.name, email)
        except InvalidRequest as exc:
            add_domain_error(request, errors, exc, TEAM_FIELDS)
    if errors:
        return _admin_page(request, staff, errors, "team", values, status=422)
    return see_other("/staff/admin?angelegt=team#teams")


@router.post("/staff/admin/mitarbeitende", response_model=None)
def create_advisor(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    values = _values(form, ADVISOR_FIELDS, lists=("service_ids",))
    errors = FormErrors()
    data = {name: values[field_id] for name, field_id in ADVISOR_FIELDS.items()}
    data |= {"team_id": data["team_id"] or None, "password": data["password"] or None}
    body = validate(request, AdvisorIn, data, ADVISOR_FIELDS, errors)
    if body is not None:
        spec = AdvisorSpec(
            name=body.name,
            email=str(body.email),
            service_ids=body.service_ids,
            role=body.role,
            password=body.password,
            team_id=body.team_id,
        )
        try:
            services.catalogue.create_advisor(staff, spec)
        except (InvalidRequest, NotFound) as exc:
            add_domain_error(request, errors, exc, ADVISOR_FIELDS)
    if errors:
        # A password is never sent back into a page.
        values["advisor-password"] = ""
        return _admin_page(request, staff, errors, "advisor", values, status=422)
    return see_other("/staff/admin?angelegt=advisor#staff")


def service_form(
    request: Request, form: FormData, errors: FormErrors
) -> tuple[dict[str, Any], ServiceSpec | None]:
    """The service form's values as sent, and the service they describe once the API's
    schema accepts them (None, with `errors`, otherwise): for creating and for editing."""
    values = _values(form, SERVICE_FIELDS, lists=("channels", "advisor_ids"))
    advisor_ids = _ids(request, values[SERVICE_FIELDS["advisor_ids"]], "advisor_ids", errors)
    data = {name: values[field_id] for name, field_id in SERVICE_FIELDS.items()}
    data |= {
        "name_en": data["name_en"] or None,
        "address": data["address"] or None,
        "team_id": data["team_id"] or None,
    }
    del data["advisor_ids"]
    body = validate(request, ServiceIn, data, SERVICE_FIELDS, errors)
    if body is None or errors:
        return values, None
    spec = ServiceSpec(
        **body.model_dump(exclude={"channels"}),
        channels=[c.value for c in body.channels],
        advisor_ids=advisor_ids,
    )
    return values, spec


def _values(
    form: FormData, field_ids: dict[str, str], lists: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        field_id: texts(form, field_id) if name in lists else text(form, field_id)
        for name, field_id in field_ids.items()
    }


def _ids(request: Request, raw: list[str], name: str, errors: FormErrors) -> list[int]:
    ids = [parse_id(v) for v in raw]
    if all(i is not None for i in ids):
        return [i for i in ids if i is not None]
    message = pages(request).gettext(request, "Please choose one of the options.")
    errors.add(SERVICE_FIELDS[name], message)
    return []


def _admin_page(
    request: Request,
    staff: StaffIdentity,
    errors: FormErrors,
    failed: Kind | None,
    values: dict[str, Any],
    *,
    created: Kind | None = None,
    done: Done | None = None,
    status: int = 200,
) -> HTMLResponse:
    services = container(request)
    people = services.catalogue.advisors(staff)
    offered = services.catalogue_edit.services()
    advisors_of = {
        service.id: [person.name for person, ids in people if service.id in ids]
        for service in offered
    }
    teams = services.catalogue.teams()
    names = {service.id: service.name for service in offered}
    return render(
        request,
        staff,
        "staff/admin.html",
        team_choices=[(str(team.id), team.name) for team in teams if team.active],
        team_names={team.id: team.name for team in teams},
        advisor_choices=[(str(p.id), p.name) for p, _ in people if p.role != Role.HOTLINE],
        service_choices=[(str(s.id), s.name) for s in offered if s.active],
        service_names=lambda ids: ", ".join(names[i] for i in ids if i in names),
        section=SECTION,
        status_code=status,
        services=offered,
        advisors_of=advisors_of,
        teams=teams,
        people=people,
        errors=errors,
        failed=failed,
        values=SERVICE_DEFAULTS | values if failed != "service" else values,
        created=created,
        done=done,
    )
