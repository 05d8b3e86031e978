"""What the staff pages share: the sections a role may use, rendering with the staff frame,
and form errors, whether from our own checks, the API's schemas or the domain."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from babel import Locale
from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.errors import PermissionDenied, SchedulerError
from scheduler.models import Role
from web.deps import container, pages
from web.errors import message

M = TypeVar("M", bound=BaseModel)
# Largest value a PostgreSQL `integer` column holds: a bigger id in a query is bad input.
MAX_ID = 2**31 - 1


# Ids in forms are ASCII digits: `str.isdigit` also accepts "²" (which `int` refuses) and
# `int` also reads "٣" (Arabic-Indic three); one parser for every form keeps them all alike.
_ASCII_ID = re.compile(r"[0-9]{1,10}")


def parse_id(raw: str) -> int | None:
    """The id a form field names (1 to MAX_ID, ASCII digits), or None for anything else."""
    if not _ASCII_ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def _blank_to_none(value: object) -> object:
    return None if value == "" else value


# Query values of GET forms: an empty field ("all advisors", a cleared date) means none.
OptionalId = Annotated[
    Annotated[int, Field(ge=1, le=MAX_ID)] | None, BeforeValidator(_blank_to_none), Query()
]
OptionalDate = Annotated[date | None, BeforeValidator(_blank_to_none), Query()]


@dataclass(frozen=True, slots=True)
class Section:
    path: str
    label: str  # an English msgid, translated in the template
    roles: tuple[Role, ...]
    team_leads: bool = False  # also for whoever leads a team, whatever their role

    def open_to(self, staff: StaffIdentity) -> bool:
        return staff.role in self.roles or (self.team_leads and staff.team_lead)


SECTIONS = (
    Section("/staff/agenda", "Agenda", (Role.ADVISOR, Role.ADMIN, Role.HOTLINE)),
    Section("/staff/woche", "Week", (Role.ADVISOR, Role.ADMIN, Role.HOTLINE)),
    Section("/staff/zeiten", "Weekly hours", (Role.ADVISOR, Role.ADMIN)),
    Section("/staff/abwesenheiten", "Absences", (Role.ADVISOR, Role.ADMIN)),
    Section("/staff/hotline", "Hotline", (Role.HOTLINE, Role.ADMIN)),
    Section("/staff/admin", "Administration", (Role.ADMIN,)),
    Section("/staff/personen", "Data requests", (Role.ADMIN,)),
    Section("/staff/statistik", "Statistics", (Role.ADMIN,), team_leads=True),
)
HOME = {Role.ADVISOR: "/staff/agenda", Role.HOTLINE: "/staff/hotline", Role.ADMIN: "/staff/admin"}


def require_section(staff: StaffIdentity, path: str) -> None:
    """A 403 page unless the staff member's role may use the section at `path`."""
    section = next(s for s in SECTIONS if s.path == path)
    if not section.open_to(staff):
        raise PermissionDenied(role=staff.role.value)


def render(
    request: Request,
    staff: StaffIdentity,
    template: str,
    *,
    section: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    renderer = pages(request)
    languages = Locale.parse(renderer.language(request)).languages
    context.setdefault("staff_takes_callbacks", container(request).callbacks.takes_callbacks(staff))
    return renderer.render(
        request,
        template,
        status_code=status_code,
        staff=staff,
        language_name=lambda code: languages.get(code, code),
        sections=[s for s in SECTIONS if s.open_to(staff)],
        current_section=section,
        **context,
    )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def today(request: Request) -> date:
    scheduler = container(request).scheduler
    return scheduler.clock().astimezone(scheduler.tz).date()


def local_day(request: Request, moment: datetime) -> date:
    return moment.astimezone(container(request).scheduler.tz).date()


@dataclass
class FormErrors:
    """Problems of a submitted form: field id → translated message, in the order found."""

    fields: dict[str, str] = field(default_factory=dict)

    def add(self, field_id: str, text: str) -> None:
        self.fields.setdefault(field_id, text)

    def __bool__(self) -> bool:
        return bool(self.fields)


def text(form: FormData, name: str) -> str:
    """A text field, stripped; a file sent in its place counts as empty."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def domain_message(request: Request, exc: SchedulerError) -> str:
    text = message(request, exc.code, **exc.params)
    # A weak password comes with zxcvbn's reasons and advice: its own English texts, which are
    # our msgids (German in accounts.po), so the person learns what to change.
    hints = exc.params.get("hints")
    if isinstance(hints, list):
        renderer = pages(request)
        text = " ".join([text, *(renderer.gettext(request, str(hint)) for hint in hints)])
    return text


# Pydantic's error types → our texts (English msgids; German in staff.po).
_SCHEMA_MESSAGES = {
    "missing": "Please fill in this field.",
    "string_too_short": "Please fill in this field.",
    "string_too_long": "This is too long.",
    "string_pattern_mismatch": "This contains characters that are not allowed here.",
    "int_parsing": "Please enter a whole number.",
    "int_type": "Please enter a whole number.",
    "greater_than_equal": "This number is too small.",
    "less_than_equal": "This number is too large.",
    "list_too_short": "Please choose at least one.",
    "enum": "Please choose one of the options.",
    "value_error": "Please enter a valid e-mail address.",
}


_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")


def _typed_numbers(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """A form's text turned into the numbers the schema asks for where it is a whole number in
    ASCII digits: the API's schemas take JSON numbers only (strict), a form has only text."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        typed = dict(data)
        for problem in exc.errors():
            if problem["type"] != "int_type" or not problem["loc"]:
                continue
            name, *index = problem["loc"]
            value = problem["input"]
            if not isinstance(value, str) or not _WHOLE_NUMBER.fullmatch(value):
                continue
            if not index:
                typed[str(name)] = int(value)
            elif isinstance(index[0], int) and isinstance(typed.get(str(name)), list):
                items = typed[str(name)] = list(typed[str(name)])
                items[index[0]] = int(value)
        return typed
    return data


def validate(
    request: Request,
    model: type[M],
    data: dict[str, Any],
    field_ids: dict[str, str],
    errors: FormErrors,
) -> M | None:
    """`data` checked with the API's schema `model`, as the API would; each problem is added
    to `errors` under the form's id for the schema field (`field_ids`)."""
    try:
        return model.model_validate(_typed_numbers(model, data))
    except ValidationError as exc:
        renderer = pages(request)
        for problem in exc.errors():
            name = str(problem["loc"][0]) if problem["loc"] else ""
            text_ = _SCHEMA_MESSAGES.get(problem["type"], "Please check this field.")
            errors.add(field_ids.get(name, name), renderer.gettext(request, text_))
        return None


def add_domain_error(
    request: Request,
    errors: FormErrors,
    exc: SchedulerError,
    field_ids: dict[str, str],
    default: str | None = None,
) -> None:
    """A domain error of a form's submission, shown at the field it names, else at `default`
    or the form's first field."""
    name = str(exc.params.get("field", ""))
    field_id = field_ids.get(name) or default or next(iter(field_ids.values()))
    errors.add(field_id, domain_message(request, exc))
