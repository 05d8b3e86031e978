"""Page: a person's export (scheduler/people.py) to read and to print, for the answer to a
request by phone or letter (DSGVO Art. 15); the same records as the JSON download, read
through the same `People.export`, so it is audited the same way (`person_export`, on each
booking too).

Nothing is left out: every field of every record is drawn, the known ones with their names
and their values in words (web/templates/staff/people_view.html), any other one under its
key, so that a section an exporter adds later shows up without a change here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.deps import Services
from web.pages.session import StaffPage
from web.pages.staff_common import render
from web.pages.staff_people import PATH, Email, Phone, _admin, _person

router = APIRouter(include_in_schema=False)
SECTIONS = ("bookings", "callbacks", "waitlist")
# Lists of plain values that are one field (shown as words), not records of their own.
VALUE_LISTS = ("weekdays", "day_parts")
# Records with this many fields or fewer are a table; longer ones a list of their own.
TABLE_COLUMNS = 4


def shown(value: Any) -> Any:
    """A plain exported value as the template shows it: times as aware datetimes (drawn in
    the office's zone), everything else as it is."""
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment if moment.tzinfo else value
    return value


def _is_part(key: str, value: Any) -> bool:
    """Whether a field of a record is a part with its own heading (the booking itself, its
    notes, access log, e-mails, documents; a callback's preferred times)."""
    if isinstance(value, dict):
        return True
    return (
        isinstance(value, list)
        and key not in VALUE_LISTS
        and all(isinstance(item, dict) for item in value)
    )


def _fields(record: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(key, shown(value)) for key, value in record.items() if not _is_part(key, value)]


def _part(value: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    if isinstance(value, dict):
        return {"kind": "record", "fields": _fields(value)}
    columns = list(value[0]) if value else []
    if len(columns) <= TABLE_COLUMNS and all(list(item) == columns for item in value):
        return {"kind": "table", "columns": columns, "rows": [_fields(item) for item in value]}
    return {"kind": "records", "items": [_fields(item) for item in value]}


def readable(record: dict[str, Any]) -> dict[str, Any]:
    """One exported record as the page draws it: its plain fields as (key, value) pairs in
    their order, then its parts (key, record, table or list of records)."""
    return {
        "fields": _fields(record),
        "parts": [(key, _part(value)) for key, value in record.items() if _is_part(key, value)],
    }


def _heading(record: dict[str, Any]) -> str:
    """What names a record in its heading: its reference, where it has one."""
    booking = record.get("booking")
    found = booking.get("reference") if isinstance(booking, dict) else record.get("reference")
    return str(found or "")


@router.get(PATH + "/auskunft")
def people_view(
    request: Request, staff: StaffPage, services: Services, email: Email = "", phone: Phone = ""
) -> HTMLResponse:
    _admin(staff)
    exported = services.people.export(staff, _person(email, phone))
    records = [(name, [(_heading(r), readable(r)) for r in exported[name]]) for name in SECTIONS]
    return render(
        request,
        staff,
        "staff/people_view.html",
        section=PATH,
        values={"email": email.strip(), "phone": phone.strip()},
        exported_at=shown(exported["exported_at"]),
        counts=exported["counts"],
        records=records,
        found_any=any(exported["counts"].values()),
    )
