"""The fields of a callback request as an HTML form, without JavaScript: reading and checking
them (form -> `CallbackInput` and an errors dict), and the choices of the preferred times.

Shared by the citizen's form (`/rueckruf`, web/pages/callback_form.py) and any staff form that
takes a request on the phone: `read_callback` gets the concerns the page offers, and the
partial `_callback_fields.html` gets everything from the template variables that
`callback_context(...)` returns, so neither knows which page it is on.

A preferred time is a row of two selects: a day (the coming office days: weekdays that are
neither public holidays nor closure days, as the slot search knows them) and a block of office
time. Up to `MAX_WINDOWS` rows; the first is required. The rules of a request (at most 12 hours,
within 14 days, not over yet) are the engine's (scheduler/callbacks_rules.py); this module
only turns the rows into aware datetimes in the office's zone and says which row is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from scheduler.callbacks_rules import MAX_WINDOWS, NOTE_MAX, WINDOW_DAYS, CallbackInput, Window
from scheduler.db import read_session
from scheduler.errors import InvalidRequest, NotFound
from scheduler.services import Scheduler
from web.pages.booking_common import ServiceText
from web.pages.form_values import (
    EMAIL,
    LANGUAGES,
    PHONE_INVALID,
    email_problem,
    form_text,
    name_problem,
    phone_problem,
)
from web.pages.once import ONCE_FIELD, once_key
from web.pages.staff_common import parse_id

# Blocks of office time a citizen may choose (start hour, end hour), in the office's zone.
TIME_BLOCKS: tuple[tuple[int, int], ...] = ((8, 10), (10, 12), (12, 14), (14, 16), (16, 18))
ROWS = tuple(range(1, MAX_WINDOWS + 1))

# Field name -> the id of its input, which the error summary links to.
FIELD_IDS = {
    "service": "field-service",
    "name": "field-name",
    "phone": "field-phone",
    **{f"window{row}": f"field-window{row}-day" for row in ROWS},
    "language": "field-language",
    "note": "field-note",
    "email": "field-email",
    "altcha": "field-altcha",
}

WINDOW_PASSED = "This time is already over. Choose a later time or another day."
WINDOW_INCOMPLETE = "Choose a day and a time, or neither."
WINDOW_UNKNOWN = "Choose a day and a time from the lists."
WINDOW_REFUSED = "Choose times in the coming 14 days that are not over yet."


def block_value(block: tuple[int, int]) -> str:
    return f"{block[0]:02d}-{block[1]:02d}"


BLOCK_VALUES = {block_value(b): b for b in TIME_BLOCKS}


@dataclass(frozen=True, slots=True)
class WindowChoice:
    """One row as typed: the day (ISO) and the block ("08-10"), either possibly empty."""

    day: str = ""
    block: str = ""


@dataclass
class CallbackEntry:
    """What the form holds; `errors` maps a field to the English text of its problem."""

    service_id: int | None = None
    name: str = ""
    phone: str = ""
    rows: list[WindowChoice] = field(default_factory=lambda: [WindowChoice() for _ in ROWS])
    language: str = "de"
    note: str = ""
    email: str = ""
    windows: list[Window] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def input(self, created_by_id: int | None = None) -> CallbackInput:
        """The request for `CallbackDesk.request` (only when there are no errors)."""
        assert self.service_id is not None
        assert not self.errors
        return CallbackInput(
            service_id=self.service_id,
            name=self.name,
            phone=self.phone,
            windows=self.windows,
            language=self.language,
            # Normalized as the API's EmailStr does, so that both store the same address.
            email=str(EMAIL.validate_python(self.email)) if self.email else None,
            note=self.note,
            created_by_id=created_by_id,
        )

    def refused(self, error: InvalidRequest | NotFound) -> bool:
        """The engine's refusal at the form's field; False for one it has no words for."""
        code, where = error.code, str(error.params.get("field", ""))
        if isinstance(error, NotFound):
            self.errors["service"] = "Choose your concern."
        elif code == "callback_windows_invalid" or where == "windows":
            self.errors["window1"] = WINDOW_REFUSED
        elif code == "notes_too_long":
            self.errors["note"] = "Shorten your note to at most 500 characters."
        elif where == "name":
            self.errors["name"] = "Enter your name."
        elif where == "phone":
            self.errors["phone"] = PHONE_INVALID
        else:
            return False
        return True


def office_days(scheduler: Scheduler, now: datetime | None = None) -> list[date]:
    """The days a preferred time may lie on: today while a block is still ahead, then the
    weekdays of the coming `WINDOW_DAYS` days that are not closed (public holidays of the
    office's region and closure days, as the slot search knows them)."""
    now = now or scheduler.clock()
    local = now.astimezone(scheduler.tz)
    today = local.date()
    last = today + timedelta(days=WINDOW_DAYS - 1)
    with read_session(scheduler.sessions) as session:
        closed = scheduler.placement.closed(session, today, last)
    days = []
    for offset in range(WINDOW_DAYS):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5 or day in closed:
            continue
        if day == today and not blocks_left(day, now, scheduler.tz):
            continue
        days.append(day)
    return days


def window_of(day: date, block: tuple[int, int], tz: ZoneInfo) -> Window:
    """A block of a day as aware datetimes in the office's zone."""
    return (
        datetime.combine(day, time(block[0]), tzinfo=tz),
        datetime.combine(day, time(block[1]), tzinfo=tz),
    )


def blocks_left(day: date, now: datetime, tz: ZoneInfo) -> list[tuple[int, int]]:
    """The blocks of `day` that have not ended at `now`."""
    return [b for b in TIME_BLOCKS if window_of(day, b, tz)[1] > now]


def _note(form: FormData) -> str:
    """The note as typed; a browser sends a line break as CR LF, which counts as one."""
    value = form.get("note")
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


def read_callback(
    form: FormData,
    services: Sequence[ServiceText],
    days: Sequence[date],
    now: datetime,
    tz: ZoneInfo,
) -> CallbackEntry:
    """The form's values, checked as the API checks them; the problems in `errors`.

    `services` are the concerns this page may ask a callback for, `days` the days it offered
    (`office_days`), `now` and `tz` the office's clock and zone."""
    entry = CallbackEntry(
        service_id=parse_id(form_text(form, "anliegen")),
        name=form_text(form, "name"),
        phone=form_text(form, "phone"),
        rows=[
            WindowChoice(form_text(form, f"tag{row}"), form_text(form, f"zeit{row}"))
            for row in ROWS
        ],
        language=form_text(form, "language"),
        note=_note(form),
        email=form_text(form, "email"),
    )
    errors = entry.errors
    if not any(s.id == entry.service_id for s in services):
        errors["service"] = "Choose your concern."
    problems = {
        "name": name_problem(entry.name),
        "phone": phone_problem(entry.phone, missing="Enter the phone number we should call."),
    }
    errors.update({name: problem for name, problem in problems.items() if problem})
    windows: list[Window] = []
    for row, choice in zip(ROWS, entry.rows, strict=True):
        name = f"window{row}"
        if not choice.day and not choice.block:
            if row == 1:
                errors[name] = "Choose at least one day and time when we may call you."
            continue
        if not choice.day or not choice.block:
            errors[name] = WINDOW_INCOMPLETE
            continue
        day, block = _day(choice.day), BLOCK_VALUES.get(choice.block)
        if day is None or block is None:
            errors[name] = WINDOW_UNKNOWN
            continue
        window = window_of(day, block, tz)
        if window[1] <= now:
            errors[name] = WINDOW_PASSED
        elif day not in days:
            errors[name] = WINDOW_UNKNOWN
        elif window not in windows:
            windows.append(window)
    entry.windows = windows
    if entry.language not in LANGUAGES:
        errors["language"] = "Choose the language of the consultation."
    if len(entry.note) > NOTE_MAX:
        errors["note"] = "Shorten your note to at most 500 characters."
    elif "\x00" in entry.note:
        errors["note"] = "Remove the characters that are not allowed from your note."
    if (problem := email_problem(entry.email, required=False)) is not None:
        errors["email"] = problem
    return entry


def callback_context(
    entry: CallbackEntry,
    services: Sequence[ServiceText],
    days: Sequence[date],
    *,
    for_staff: bool = False,
) -> dict[str, Any]:
    """The template variables `_callback_fields.html` reads (pass them to `render`)."""
    return {
        "callback": entry,
        "callback_services": list(services),
        "callback_days": list(days),
        "callback_blocks": [(block_value(b), b) for b in TIME_BLOCKS],
        "callback_rows": ROWS,
        "callback_field_ids": FIELD_IDS,
        "callback_note_max": NOTE_MAX,
        "callback_for_staff": for_staff,
        # The form asks at most once (web/pages/once.py).
        "callback_once_field": ONCE_FIELD,
        "callback_once_key": once_key(),
    }
