"""Pages: editing, deactivating and activating again the services, teams and staff accounts of
the administration page (scheduler/catalogue_edit.py), checked with the API's schemas like
the forms that create them (web/pages/staff_admin.py). A staff member with appointments to
come is deactivated after a confirmation that shows where each appointment goes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.catalogue_edit import StaffChange
from scheduler.displacement import AffectedChanged, Displaced
from scheduler.errors import InvalidRequest, NotFound, SchedulerError
from scheduler.models import Role, Service, Staff, Team
from web.deps import Services, container
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_admin import (
    ADVISOR_FIELDS,
    SECTION,
    SERVICE_FIELDS,
    TEAM_FIELDS,
    _values,
    service_form,
)
from web.pages.staff_common import (
    MAX_ID,
    FormErrors,
    add_domain_error,
    domain_message,
    parse_id,
    render,
    require_section,
    see_other,
    text,
    validate,
)
from web.schemas import AdvisorIn, TeamIn

router = APIRouter(include_in_schema=False)
Form = Annotated[FormData, Depends(verified_form)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Kind = Literal["service", "team", "advisor"]
SERVICE = "/staff/admin/anliegen/{service_id}"
TEAM = "/staff/admin/teams/{team_id}"
PERSON = "/staff/admin/mitarbeitende/{staff_id}"


# -- services ----------------------------------------------------------------------------------


@router.get(SERVICE)
def edit_service(request: Request, staff: StaffPage, service_id: Id) -> HTMLResponse:
    require_section(staff, SECTION)
    service = _service(request, service_id)
    values = {
        SERVICE_FIELDS[name]: getattr(service, name)
        for name in SERVICE_FIELDS
        if name not in ("advisor_ids",)
    }
    values = {key: "" if value is None else value for key, value in values.items()}
    values[SERVICE_FIELDS["advisor_ids"]] = [str(a.id) for a in service.advisors]
    values[SERVICE_FIELDS["team_id"]] = str(service.team_id or "")
    return _edit_page(request, staff, "service", service, values, FormErrors())


@router.post(SERVICE, response_model=None)
def save_service(
    request: Request, staff: StaffPage, service_id: Id, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    service = _service(request, service_id)
    errors = FormErrors()
    values, spec = service_form(request, form, errors)
    if spec is not None:
        try:
            services.catalogue_edit.update_service(staff, service_id, spec)
        except (InvalidRequest, NotFound) as exc:
            add_domain_error(request, errors, exc, SERVICE_FIELDS)
    if errors:
        return _edit_page(request, staff, "service", service, values, errors, status=422)
    return see_other("/staff/admin?erledigt=changed#services")


@router.post(SERVICE + "/aktiv")
def service_active(
    staff: StaffPage, service_id: Id, form: Form, services: Services
) -> RedirectResponse:
    require_section(staff, SECTION)
    active = text(form, "active") == "yes"
    services.catalogue_edit.set_service_active(staff, service_id, active)
    return see_other(f"/staff/admin?erledigt={'activated' if active else 'paused'}#services")


# -- teams -------------------------------------------------------------------------------------


@router.get(TEAM)
def edit_team(request: Request, staff: StaffPage, team_id: Id) -> HTMLResponse:
    require_section(staff, SECTION)
    team = _team(request, team_id)
    values = {"team-name": team.name, "team-email": team.email or ""}
    return _edit_page(request, staff, "team", team, values, FormErrors())


@router.post(TEAM, response_model=None)
def save_team(
    request: Request, staff: StaffPage, team_id: Id, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    team = _team(request, team_id)
    values = _values(form, TEAM_FIELDS)
    errors = FormErrors()
    data = {"name": values["team-name"], "email": values["team-email"] or None}
    body = validate(request, TeamIn, data, TEAM_FIELDS, errors)
    if body is not None:
        email = str(body.email) if body.email else None
        try:
            services.catalogue_edit.update_team(staff, team_id, body.name, email)
        except InvalidRequest as exc:
            add_domain_error(request, errors, exc, TEAM_FIELDS)
    if errors:
        return _edit_page(request, staff, "team", team, values, errors, status=422)
    return see_other("/staff/admin?erledigt=changed#teams")


@router.post(TEAM + "/aktiv", response_model=None)
def team_active(
    request: Request, staff: StaffPage, team_id: Id, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    team = _team(request, team_id)
    active = text(form, "active") == "yes"
    try:
        services.catalogue_edit.set_team_active(staff, team_id, active)
    except SchedulerError as exc:
        if exc.code != "team_has_services":
            raise
        errors = FormErrors()
        errors.add("team-active", domain_message(request, exc))
        values = {"team-name": team.name, "team-email": team.email or ""}
        return _edit_page(request, staff, "team", team, values, errors, status=409)
    return see_other(f"/staff/admin?erledigt={'activated' if active else 'paused'}#teams")


# -- staff -------------------------------------------------------------------------------------


@router.get(PERSON)
def edit_person(request: Request, staff: StaffPage, staff_id: Id) -> HTMLResponse:
    require_section(staff, SECTION)
    person, service_ids = _person(request, staff, staff_id)
    values = {
        "advisor-name": person.name,
        "advisor-email": person.email,
        "advisor-role": person.role,
        "advisor-team_id": str(person.team_id or ""),
        "advisor-service_ids": [str(i) for i in service_ids],
        "advisor-team_lead": "yes" if person.team_lead else "",
    }
    return _edit_page(request, staff, "advisor", person, values, FormErrors())


@router.post(PERSON, response_model=None)
def save_person(
    request: Request, staff: StaffPage, staff_id: Id, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    person, _ = _person(request, staff, staff_id)
    fields = {k: v for k, v in ADVISOR_FIELDS.items() if k != "password"}
    values = _values(form, fields, lists=("service_ids",))
    values["advisor-team_lead"] = text(form, "advisor-team_lead")
    errors = FormErrors()
    data = {name: values[field_id] for name, field_id in fields.items()}
    data |= {"team_id": data["team_id"] or None}
    body = validate(request, AdvisorIn, data, fields, errors)
    if body is not None:
        change = StaffChange(
            name=body.name,
            email=str(body.email),
            role=body.role,
            service_ids=body.service_ids,
            team_id=body.team_id,
            team_lead=values["advisor-team_lead"] == "yes",
        )
        try:
            services.catalogue_edit.update_staff(staff, staff_id, change)
        except SchedulerError as exc:
            if exc.code not in ("email_taken", "last_admin", "not_found"):
                raise
            add_domain_error(request, errors, exc, fields)
    if errors:
        return _edit_page(request, staff, "advisor", person, values, errors, status=422)
    return see_other("/staff/admin?erledigt=changed#staff")


@router.post(PERSON + "/deaktivieren", response_model=None)
def deactivate_person(
    request: Request, staff: StaffPage, staff_id: Id, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    """First the appointments to come and where each goes; then, confirmed with the ids
    seen, the deactivation (409 and the new list when they changed meanwhile)."""
    require_section(staff, SECTION)
    person, _ = _person(request, staff, staff_id)
    edit = services.catalogue_edit
    if text(form, "bestaetigt") != "1":
        return _departure(request, staff, person, edit.preview_departure(staff, staff_id), False)
    raw = [part for part in text(form, "betroffen").split(",") if part]
    ids = [parse_id(part) for part in raw]
    if any(i is None for i in ids):
        raise InvalidRequest("bad ids", field="betroffen")
    try:
        edit.deactivate_staff(staff, staff_id, frozenset(i for i in ids if i is not None))
    except AffectedChanged:
        return _departure(request, staff, person, edit.preview_departure(staff, staff_id), True)
    return see_other("/staff/admin?erledigt=deactivated#staff")


@router.post(PERSON + "/aktivieren")
def activate_person(
    staff: StaffPage, staff_id: Id, form: Form, services: Services
) -> RedirectResponse:
    require_section(staff, SECTION)
    services.catalogue_edit.activate_staff(staff, staff_id)
    return see_other("/staff/admin?erledigt=activated#staff")


# -- shared ------------------------------------------------------------------------------------


def _service(request: Request, service_id: int) -> Service:
    found = {s.id: s for s in container(request).catalogue_edit.services()}
    if service_id not in found:
        raise NotFound("unknown service", field="service_id")
    return found[service_id]


def _team(request: Request, team_id: int) -> Team:
    found = {t.id: t for t in container(request).catalogue.teams()}
    if team_id not in found:
        raise NotFound("unknown team", field="team_id")
    return found[team_id]


def _person(request: Request, staff: StaffIdentity, staff_id: int) -> tuple[Staff, list[int]]:
    for person, service_ids in container(request).catalogue.advisors(staff):
        if person.id == staff_id:
            return person, service_ids
    raise NotFound("unknown staff member", field="staff_id")


def _edit_page(
    request: Request,
    staff: StaffIdentity,
    kind: Kind,
    item: Any,
    values: dict[str, Any],
    errors: FormErrors,
    *,
    status: int = 200,
) -> HTMLResponse:
    services = container(request)
    teams = services.catalogue.teams()
    people = services.catalogue.advisors(staff)
    return render(
        request,
        staff,
        "staff/admin_edit.html",
        section=SECTION,
        status_code=status,
        kind=kind,
        item=item,
        values=values,
        errors=errors,
        team_choices=[(str(t.id), t.name) for t in teams if t.active or t.id == item.id],
        advisor_choices=[(str(p.id), p.name) for p, _ in people if p.role != Role.HOTLINE],
        service_choices=[(str(s.id), s.name) for s in services.scheduler.services()],
    )


def _departure(
    request: Request, staff: StaffIdentity, person: Staff, preview: Displaced, changed: bool
) -> HTMLResponse:
    return render(
        request,
        staff,
        "staff/admin_departure.html",
        section=SECTION,
        status_code=409 if changed else 200,
        person=person,
        preview=preview,
        affected=",".join(str(i) for i in sorted(preview.booking_ids)),
        changed=changed,
    )
