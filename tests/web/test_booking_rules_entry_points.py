"""The booking rules of the engine (tests/scheduler/test_booking_rules.py) through every door
a booking comes in by: the citizens' API, the staff API, the citizen's booking form and the
hotline desk. Each refuses what breaks a rule with the engine's code at the field it names
(the pages: the form again, with that field's message) and books the variant that keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scheduler.db import read_session
from scheduler.models import Booking, BookingStatus, Role
from scheduler.requests import NOTES_MAX
from tests.scheduler.test_booking_rules import IDS, RULES, Rule
from tests.web.pages.test_citizen_flow import details_values, open_page
from tests.web.pages.test_staff_login import post, staff_client
from web.errors import MESSAGES
from web.i18n import Catalogues
from web.pages.booking_form import FIELD_IDS, RULE_MESSAGES

START = "2031-01-07T09:00:00+01:00"  # Tuesday 09:00: the first free time after the clock's now
HOTLINE = "hotline@example.org"
DE = Catalogues().translations("de")
CODES = {rule.code for rule in RULES}
# The pages speak German by default: their messages, back to the engine's codes.
DESK_CODES = {DE.gettext(MESSAGES[code]).format(maximum=NOTES_MAX): code for code in CODES}
FORM_CODES = {DE.gettext(RULE_MESSAGES[code]) % {"maximum": NOTES_MAX}: code for code in CODES}
FORM_FIELDS = {field_id: name for name, field_id in FIELD_IDS.items()}
# The v1 contract asks every citizen booking through the API for an e-mail address.
CONTRACT = {("citizens' API", "email_required"): "validation_error"}


@dataclass(frozen=True)
class Answer:
    status: int
    code: str | None = None
    field: str | None = None

    @property
    def booked(self) -> bool:
        return self.status in (201, 303)


def fields_of(rule_fields: dict[str, Any]) -> dict[str, Any]:
    """A request in the words of the rule table, completed as a citizen would fill it in."""
    return {
        "channel": "video",
        "email": "erika@example.org",
        "phone": None,
        "notes": "",
        "wheelchair_access": False,
    } | rule_fields


class Doors:
    """The ways into a booking, each sending a request of the rule table."""

    def __init__(self, app, client: TestClient, world, service) -> None:
        self.app, self.client, self.world, self.service = app, client, world, service

    def citizens_api(self, fields: dict[str, Any]) -> Answer:
        return self._api("/api/v1/bookings", self._body(fields), {})

    def staff_api(self, fields: dict[str, Any]) -> Answer:
        headers = self.world.login(self.client, HOTLINE)
        return self._api("/api/v1/staff/bookings", self._body(fields), headers)

    def booking_form(self, fields: dict[str, Any]) -> Answer:
        path = f"/buchen/{self.service.id}/angaben"
        form = open_page(self.client, path, kanal=fields["channel"], start=START)
        entries = {
            "email": fields["email"] or "",
            "phone": fields["phone"] or "",
            "notes": fields["notes"],
        }
        if fields["wheelchair_access"]:
            entries["wheelchair_access"] = "1"
        data = details_values(form, **entries)
        response = self.client.post(path, data=data, follow_redirects=False)
        if response.status_code == 303:
            return Answer(303)
        field_id, text = first_error(response.text, r"#(field-[\w-]+)")
        return Answer(response.status_code, FORM_CODES.get(text), FORM_FIELDS[field_id])

    def hotline_desk(self, fields: dict[str, Any]) -> Answer:
        form = {
            "anliegen": str(self.service.id),
            "kanal": fields["channel"],
            "start": START,
            "name": "Erika Mustermann",
            "email": fields["email"] or "",
            "phone": fields["phone"] or "",
            "language": "de",
            "notes": fields["notes"],
        }
        if fields["wheelchair_access"]:
            form["wheelchair_access"] = "yes"
        response = post(staff_client(self.app, HOTLINE), "/staff/hotline/buchen", form)
        if response.status_code == 303:
            return Answer(303)
        # The desk's form ids are the engine's field names.
        field_id, text = first_error(response.text, r"#([\w-]+)")
        return Answer(response.status_code, DESK_CODES.get(text), field_id)

    def _body(self, fields: dict[str, Any]) -> dict[str, Any]:
        body = {
            "service_id": self.service.id,
            "start": START,
            "channel": fields["channel"],
            "name": "Erika Mustermann",
            "notes": fields["notes"],
            "needs": {"wheelchair_access": fields["wheelchair_access"]},
        }
        for name in ("email", "phone"):
            if fields[name] is not None:
                body[name] = fields[name]
        return body

    def _api(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Answer:
        response = self.client.post(path, json=body, headers=headers)
        if response.status_code == 201:
            return Answer(201)
        problem = response.json()
        field = problem.get("field") or problem.get("errors", [{}])[0].get("field")
        return Answer(response.status_code, problem["code"], field)


def first_error(html: str, anchor: str) -> tuple[str, str]:
    """The field and the message of the first entry in a page's error summary."""
    summary = html[html.index('class="error-summary"') :]
    match = re.search(rf'<a href="{anchor}">([^<]*)</a>', summary)
    assert match, summary[:500]
    return match[1], unescape(match[2]).strip()


DOORS: dict[str, Callable[[Doors], Callable[[dict[str, Any]], Answer]]] = {
    "citizens' API": lambda doors: doors.citizens_api,
    "staff API": lambda doors: doors.staff_api,
    "booking form": lambda doors: doors.booking_form,
    "hotline desk": lambda doors: doors.hotline_desk,
}


@pytest.fixture
def doors(app, client, world) -> Doors:
    service = world.service(channels=["video", "phone", "in_person"])
    world.advisor([service])
    world.advisor([], email=HOTLINE, role=Role.HOTLINE)
    return Doors(app, client, world, service)


def confirmed(container) -> int:
    with read_session(container.sessions) as session:
        query = select(func.count()).where(Booking.status == BookingStatus.CONFIRMED)
        return session.scalar(query) or 0


@pytest.mark.parametrize("rule", RULES, ids=IDS)
@pytest.mark.parametrize("door", DOORS)
def test_every_door_refuses_what_breaks_a_rule_and_books_what_keeps_it(
    doors: Doors, container, door: str, rule: Rule
):
    send = DOORS[door](doors)

    refused = send(fields_of(rule.refused))

    code = CONTRACT.get((door, rule.code), rule.code)
    assert refused == Answer(422, code, rule.field)
    assert confirmed(container) == 0

    assert send(fields_of(rule.accepted)).booked
    assert confirmed(container) == 1
