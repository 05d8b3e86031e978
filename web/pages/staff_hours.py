"""Pages: an advisor's weekly hours and absences. Administrators may pick any advisor
(`?berater=<id>`); advisors only ever see and change their own."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from babel.dates import get_day_names
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.catalogue import HoursSpec, hours_problems
from scheduler.displacement import AffectedChanged, Displaced, Displacement
from scheduler.errors import InvalidRequest, NotFound, PermissionDenied
from scheduler.models import Role
from web.deps import Renderer, Services, container, pages
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import (
    MAX_ID,
    FormErrors,
    OptionalId,
    add_domain_error,
    parse_id,
    render,
    require_section,
    see_other,
    text,
)

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
CLOSURE_CONFIRM = "staff/closures_confirm.html"
ROWS_PER_DAY = 3
_HOURS_FIELD = re.compile(r"h-([0-6])-([0-9]{1,2})-(start|end)")
_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _target(staff: StaffIdentity, section: str, chosen: int | None) -> int:
    require_section(staff, section)
    if chosen is None or chosen == staff.id:
        return staff.id
    if staff.role != Role.ADMIN:
        raise PermissionDenied(role=staff.role.value)
    return chosen


def _form_target(staff: StaffIdentity, section: str, form: FormData) -> int:
    chosen = text(form, "berater")
    if not chosen:
        return _target(staff, section, None)
    advisor_id = parse_id(chosen)
    if advisor_id is None:
        raise NotFound("unknown advisor", field="berater")
    return _target(staff, section, advisor_id)


def _advisor_choices(request: Request, staff: StaffIdentity) -> list[tuple[int, str]]:
    if staff.role != Role.ADMIN:
        return []
    return [
        (person.id, person.name)
        for person, _ in container(request).catalogue.advisors(staff)
        if person.role in (Role.ADVISOR, Role.ADMIN)
    ]


def _query(target: int, staff: StaffIdentity) -> str:
    return "" if target == staff.id else f"berater={target}"


# -- weekly hours ----------------------------------------------------------------------------


@router.get("/staff/zeiten")
def hours_form(
    request: Request,
    staff: StaffPage,
    services: Services,
    berater: OptionalId = None,
    gespeichert: bool = False,
) -> HTMLResponse:
    target = _target(staff, "/staff/zeiten", berater)
    rows = services.catalogue.weekly_hours(staff, target)
    values = {day: [(r.start, r.end) for r in rows if r.weekday == day] for day in range(7)}
    return _hours_page(request, staff, target, values, FormErrors(), saved=gespeichert)


@router.post("/staff/zeiten", response_model=None)
def save_hours(
    request: Request, staff: StaffPage, form: Form, renderer: Renderer, services: Services
) -> HTMLResponse | RedirectResponse:
    target = _form_target(staff, "/staff/zeiten", form)
    errors, values, hours = _read_hours(request, form)
    if not errors:
        for spec, code in hours_problems([spec for _, spec in hours]):
            field_id = next(f for f, s in hours if s is spec)
            suffix = "end" if code == "range_reversed" else "start"
            message = (
                "The end must be after the start."
                if code == "range_reversed"
                else "This period overlaps another one on the same day."
            )
            errors.add(f"{field_id}-{suffix}", renderer.gettext(request, message))
    if errors:
        return _hours_page(request, staff, target, values, errors, status=422)
    try:
        services.catalogue.set_weekly_hours(staff, target, [s for _, s in hours])
    except InvalidRequest as exc:
        add_domain_error(request, errors, exc, {"start": "h-0-0-start"})
        return _hours_page(request, staff, target, values, errors, status=422)
    query = "&".join(q for q in (_query(target, staff), "gespeichert=true") if q)
    return see_other(f"/staff/zeiten?{query}")


def _read_hours(
    request: Request, form: FormData
) -> tuple[FormErrors, dict[int, list[tuple[str, str]]], list[tuple[str, HoursSpec]]]:
    """The submitted rows: what to show again, and the complete ones as `HoursSpec`s with
    their row's field id."""
    gettext = pages(request).gettext
    raw: dict[tuple[int, int], dict[str, str]] = {}
    for key in form:
        match = _HOURS_FIELD.fullmatch(key)
        if match:
            day, row, part = int(match[1]), int(match[2]), match[3]
            raw.setdefault((day, row), {})[part] = text(form, key)
    errors = FormErrors()
    values: dict[int, list[tuple[str, str]]] = {day: [] for day in range(7)}
    hours: list[tuple[str, HoursSpec]] = []
    for (day, _row), parts in sorted(raw.items()):
        start, end = parts.get("start", ""), parts.get("end", "")
        if not start and not end:
            continue
        values[day].append((start, end))
        field_id = f"h-{day}-{len(values[day]) - 1}"
        for part, value in (("start", start), ("end", end)):
            if not value:
                errors.add(f"{field_id}-{part}", gettext(request, "Please enter both times."))
            elif not _HH_MM.fullmatch(value):
                errors.add(
                    f"{field_id}-{part}", gettext(request, "Please enter a time like 08:30.")
                )
        if _HH_MM.fullmatch(start) and _HH_MM.fullmatch(end):
            spec = HoursSpec(day, time.fromisoformat(start), time.fromisoformat(end))
            hours.append((field_id, spec))
    return errors, values, hours


def _hours_page(
    request: Request,
    staff: StaffIdentity,
    target: int,
    values: dict[int, list[tuple[str, str]]],
    errors: FormErrors,
    *,
    saved: bool = False,
    status: int = 200,
) -> HTMLResponse:
    rows = max(ROWS_PER_DAY, *(len(v) + 1 for v in values.values()))
    language = pages(request).language(request)
    names = get_day_names("wide", locale=language)
    days = [
        (day, names[day], values[day] + [("", "")] * (rows - len(values[day]))) for day in range(7)
    ]
    return render(
        request,
        staff,
        "staff/hours.html",
        section="/staff/zeiten",
        status_code=status,
        days=days,
        target=target,
        advisor_choices=_advisor_choices(request, staff),
        errors=errors,
        saved=saved,
    )


# -- absences --------------------------------------------------------------------------------


@router.get("/staff/abwesenheiten")
def absences(
    request: Request,
    staff: StaffPage,
    berater: OptionalId = None,
    gespeichert: Annotated[str | None, Query(max_length=20)] = None,
    verschoben: Annotated[int, Query(ge=0, le=10_000)] = 0,
    abgesagt: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> HTMLResponse:
    target = _target(staff, "/staff/abwesenheiten", berater)
    return _absences_page(
        request,
        staff,
        target,
        FormErrors(),
        {},
        saved=gespeichert,
        moved=verschoben,
        cancelled=abgesagt,
    )


@router.post("/staff/abwesenheiten", response_model=None)
def add_absence(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    """Without appointments in the absence it is saved at once; otherwise the page first
    lists them with where each goes (a colleague, or cancelled), and saving takes the
    confirmation, which carries the ids it showed (scheduler/displacement.py)."""
    target = _form_target(staff, "/staff/abwesenheiten", form)
    values = {name: text(form, name) for name in _ABSENCE_FIELDS}
    errors = FormErrors()
    span = _absence_span(request, values, errors)
    if span is None:
        return _absences_page(request, staff, target, errors, values, status=422)
    confirmed = _confirmed_ids(form)
    if confirmed is None:
        preview = Displacement(services.scheduler).preview_absence(target, *span)
        if preview.appointments:
            return _preview_page(request, staff, target, values, preview)
        confirmed = frozenset()
    try:
        _, displaced = services.catalogue.enter_absence(
            staff, target, span[0], span[1], values["reason"], expected=confirmed
        )
    except AffectedChanged:
        preview = Displacement(services.scheduler).preview_absence(target, *span)
        return _preview_page(request, staff, target, values, preview, changed=True)
    except InvalidRequest as exc:
        add_domain_error(request, errors, exc, {"start": "start_date", "end": "end_date"})
        return _absences_page(request, staff, target, errors, values, status=422)
    outcome = "gespeichert=added"
    if displaced.appointments:
        outcome += f"&verschoben={len(displaced.moved)}&abgesagt={len(displaced.cancelled)}"
    query = "&".join(q for q in (_query(target, staff), outcome) if q)
    return see_other(f"/staff/abwesenheiten?{query}")


def _confirmed_ids(form: FormData) -> frozenset[int] | None:
    """The booking ids the preview showed, when this is its confirmation; else None."""
    if text(form, "bestaetigt") != "1":
        return None
    raw = text(form, "betroffen")
    ids = [parse_id(part) for part in raw.split(",")] if raw else []
    return frozenset(i for i in ids if i is not None)


def _preview_page(
    request: Request,
    staff: StaffIdentity,
    target: int,
    values: dict[str, str],
    preview: Displaced,
    *,
    changed: bool = False,
) -> HTMLResponse:
    back = "/staff/abwesenheiten" + (f"?berater={target}" if target != staff.id else "")
    return _confirm_page(
        request,
        staff,
        "staff/absences_confirm.html",
        values,
        preview,
        changed,
        target=target,
        back_url=back,
    )


def _confirm_page(
    request: Request,
    staff: StaffIdentity,
    template: str,
    values: dict[str, str],
    preview: Displaced,
    changed: bool,
    **context: Any,
) -> HTMLResponse:
    """The appointments an absence or a closure day hits, before it is saved (409: they
    changed since the last preview)."""
    return render(
        request,
        staff,
        template,
        section="/staff/abwesenheiten",
        status_code=409 if changed else 200,
        preview=preview,
        affected=",".join(str(i) for i in sorted(preview.booking_ids)),
        values=values,
        changed=changed,
        **context,
    )


@router.post("/staff/abwesenheiten/{absence_id}/entfernen")
def remove_absence(
    absence_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    staff: StaffPage,
    form: Form,
    services: Services,
) -> RedirectResponse:
    target = _form_target(staff, "/staff/abwesenheiten", form)
    services.catalogue.remove_absence(staff, target, absence_id)
    query = "&".join(q for q in (_query(target, staff), "gespeichert=removed") if q)
    return see_other(f"/staff/abwesenheiten?{query}")


_ABSENCE_FIELDS = ("start_date", "start_time", "end_date", "end_time", "reason")


def _absence_span(
    request: Request, values: dict[str, str], errors: FormErrors
) -> tuple[datetime, datetime] | None:
    """Start and end in the office's zone; without times, whole days from midnight to midnight."""
    gettext = pages(request).gettext
    tz = container(request).scheduler.tz
    days: dict[str, date | None] = {}
    for name in ("start_date", "end_date"):
        days[name] = None
        if values[name]:
            try:
                days[name] = date.fromisoformat(values[name])
            except ValueError:
                errors.add(name, gettext(request, "Please enter a date like 2026-03-02."))
    if not values["start_date"]:
        errors.add("start_date", gettext(request, "Please enter the first day."))
    times: dict[str, time | None] = {}
    for name in ("start_time", "end_time"):
        times[name] = None
        if values[name]:
            if _HH_MM.fullmatch(values[name]):
                times[name] = time.fromisoformat(values[name])
            else:
                errors.add(name, gettext(request, "Please enter a time like 08:30."))
    if len(values["reason"]) > 200:
        errors.add("reason", gettext(request, "This is too long."))
    first = days["start_date"]
    if errors or first is None:
        return None
    last = days["end_date"] or first
    start = datetime.combine(first, times["start_time"] or time(), tz)
    end_time = times["end_time"]
    end = (
        datetime.combine(last, end_time, tz)
        if end_time is not None
        else datetime.combine(last + timedelta(days=1), time(), tz)
    )
    if end <= start:
        errors.add("end_date", gettext(request, "The end must be after the start."))
        return None
    return start, end


def _absences_page(
    request: Request,
    staff: StaffIdentity,
    target: int,
    errors: FormErrors,
    values: dict[str, Any],
    *,
    saved: str | None = None,
    moved: int = 0,
    cancelled: int = 0,
    status: int = 200,
) -> HTMLResponse:
    listed = container(request).catalogue.absences(staff, target)
    return render(
        request,
        staff,
        "staff/absences.html",
        section="/staff/abwesenheiten",
        status_code=status,
        absences=listed,
        target=target,
        advisor_choices=_advisor_choices(request, staff),
        errors=errors,
        values=values,
        saved=saved,
        moved=moved,
        cancelled=cancelled,
    )


# -- closure days (administrators) -----------------------------------------------------------

CLOSURES = "/staff/abwesenheiten/schliesstage"


def _admin(staff: StaffIdentity) -> None:
    require_section(staff, "/staff/admin")


@router.get(CLOSURES)
def closures(
    request: Request,
    staff: StaffPage,
    gespeichert: Annotated[str | None, Query(max_length=20)] = None,
    abgesagt: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> HTMLResponse:
    _admin(staff)
    return _closures_page(request, staff, FormErrors(), {}, saved=gespeichert, cancelled=abgesagt)


@router.post(CLOSURES, response_model=None)
def add_closure(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    """As for an absence: the appointments of the day are listed first (all are cancelled,
    the whole office being shut), and saving takes the confirmation."""
    _admin(staff)
    values = {"day": text(form, "day"), "name": text(form, "name")}
    errors = FormErrors()
    day = _closure_day(request, values, errors)
    if day is None:
        return _closures_page(request, staff, errors, values, status=422)
    confirmed = _confirmed_ids(form)
    if confirmed is None:
        preview = Displacement(services.scheduler).preview_closure(day)
        if preview.appointments:
            return _confirm_page(request, staff, CLOSURE_CONFIRM, values, preview, False)
        confirmed = frozenset()
    try:
        _, displaced = services.catalogue.enter_closure(
            staff, day, values["name"], expected=confirmed
        )
    except AffectedChanged:
        preview = Displacement(services.scheduler).preview_closure(day)
        return _confirm_page(request, staff, CLOSURE_CONFIRM, values, preview, True)
    except InvalidRequest as exc:
        add_domain_error(request, errors, exc, {"day": "day"})
        return _closures_page(request, staff, errors, values, status=422)
    return see_other(f"{CLOSURES}?gespeichert=added&abgesagt={len(displaced.cancelled)}")


def _closure_day(request: Request, values: dict[str, str], errors: FormErrors) -> date | None:
    gettext = pages(request).gettext
    if len(values["name"]) > 200:
        errors.add("name", gettext(request, "This is too long."))
    try:
        day = date.fromisoformat(values["day"])
    except ValueError:
        errors.add("day", gettext(request, "Please enter a date like 2026-03-02."))
        return None
    if not 2000 <= day.year <= 2099:
        errors.add("day", gettext(request, "Please enter a date like 2026-03-02."))
        return None
    return None if errors else day


def _closures_page(
    request: Request,
    staff: StaffIdentity,
    errors: FormErrors,
    values: dict[str, str],
    *,
    saved: str | None = None,
    cancelled: int = 0,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        staff,
        "staff/closures.html",
        section="/staff/abwesenheiten",
        status_code=status,
        closures=container(request).catalogue.closures(),
        errors=errors,
        values=values,
        saved=saved,
        cancelled=cancelled,
    )
