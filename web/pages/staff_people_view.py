"""Page: a person's export (scheduler/people.py) to read and to print, for the answer to a
request by phone or letter (DSGVO Art. 15); the same records as the JSON download, audited
the same way."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.deps import Services
from web.pages.manage_rights import shown_value
from web.pages.session import StaffPage
from web.pages.staff_common import render
from web.pages.staff_people import PATH, Email, Phone, _admin, _person

router = APIRouter(include_in_schema=False)
SECTIONS = ("bookings", "callbacks", "waitlist")


def readable(value: Any) -> dict[str, Any]:
    """An exported value as web/templates/staff/people_view.html draws it: a record as its
    (field, value) pairs in their order, a list of records, or a plain value (times as aware
    datetimes, lists of plain values as text)."""
    if isinstance(value, dict):
        return {"kind": "record", "pairs": [(k, readable(v)) for k, v in value.items()]}
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return {"kind": "records", "items": [readable(item) for item in value]}
    return {"kind": "value", "value": shown_value(value)}


@router.get(PATH + "/auskunft")
def people_view(
    request: Request, staff: StaffPage, services: Services, email: Email = "", phone: Phone = ""
) -> HTMLResponse:
    _admin(staff)
    exported = services.people.export(staff, _person(email, phone))
    return render(
        request,
        staff,
        "staff/people_view.html",
        section=PATH,
        values={"email": email, "phone": phone},
        exported_at=shown_value(exported["exported_at"]),
        counts=exported["counts"],
        records=[(name, [readable(r) for r in exported[name]]) for name in SECTIONS],
    )
