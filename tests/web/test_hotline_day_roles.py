"""Who may open what of the hotline's day (issue 13), in one table: every new staff page and
staff endpoint, for each role. The areas' own tests check the actions in depth
(tests/web/pages/test_staff_callbacks.py, test_staff_bookings.py, test_waitlist_pages.py,
tests/web/api/test_callbacks_api.py, test_waitlist_api.py); this table is the overview a
reviewer reads, and it fails when a new page forgets its check.

Roles: nobody logged in; Anna, an advisor of the concern (its callback queue not opened to
advisors); the hotline; an administrator. The clock is the suite's frozen Monday, 2031-01-06."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from scheduler.callbacks_rules import CallbackInput
from scheduler.models import Role
from scheduler.requests import BookingRequest
from tests.web.pages.test_staff_login import staff_client

ROLES = ("anonymous", "advisor", "hotline", "admin")
EMAILS = {"advisor": "anna@example.org", "hotline": "hotline@example.org"}
NINE = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # Tuesday, 09:00 in Berlin

# (what, path with {ref} / {cb} / {service}, expected: anonymous, advisor, hotline, admin).
# A page sends whoever is not logged in to the login (303); the API answers 401.
PAGES = [
    ("waiting lists", "/staff/warteliste", (303, 200, 200, 200)),
    ("search", "/staff/buchungen?q=Mustermann", (303, 200, 200, 200)),
    ("a booking", "/staff/buchungen/{ref}", (303, 200, 200, 200)),
    ("cancel step", "/staff/buchungen/{ref}/absagen", (303, 200, 200, 200)),
    ("move picker", "/staff/buchungen/{ref}/verschieben", (303, 200, 200, 200)),
    ("note", "/staff/buchungen/{ref}/notiz", (303, 200, 200, 200)),
    ("new link step", "/staff/buchungen/{ref}/link", (303, 200, 200, 200)),
    ("closure days", "/staff/abwesenheiten/schliesstage", (303, 403, 403, 200)),
    ("my settings", "/staff/einstellungen", (303, 200, 200, 200)),
    ("callback queue", "/staff/rueckrufe", (303, 403, 200, 200)),
    ("callback taken on the phone", "/staff/rueckrufe/neu", (303, 403, 200, 200)),
    ("a callback request", "/staff/rueckrufe/{cb}", (303, 404, 200, 200)),
    ("booking from a callback", "/staff/rueckrufe/{cb}/buchen", (303, 404, 200, 200)),
    ("settle step", "/staff/rueckrufe/{cb}/erledigt", (303, 404, 200, 200)),
]
API = [
    ("waiting lists", "/api/v1/staff/waitlist", (401, 200, 200, 200)),
    ("callback queue", "/api/v1/staff/callbacks", (401, 403, 200, 200)),
    ("a callback request", "/api/v1/staff/callbacks/{cb}", (401, 404, 200, 200)),
    ("its calls", "/api/v1/staff/callbacks/{cb}/attempts", (401, 404, 200, 200)),
]
# Changes only an administrator may make (the others: 403; nobody logged in: 401).
ADMIN_ONLY = [
    ("open a queue to advisors", "PUT", "/api/v1/staff/services/{service}/callbacks"),
]


@pytest.fixture
def place(container, world):
    service = world.service(name="Wohngeld", channels=["video", "phone"])
    anna = world.advisor([service], email="anna@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=NINE,
            channel="video",
            name="Erika Mustermann",
            email="erika@example.org",
            advisor_id=anna.id,
        )
    )
    assert placed.booking is not None
    callback = container.callbacks.request(
        CallbackInput(
            service_id=service.id,
            name="Max Mustermann",
            phone="0391 123456",
            windows=[(NINE, NINE.replace(hour=11))],
            email=None,
            note="",
            language="de",
        )
    )
    return {"ref": placed.booking.reference, "cb": callback.id, "service": service.id}


def _page_client(app, client: TestClient, role: str) -> TestClient:
    if role == "anonymous":
        return client
    return staff_client(app, EMAILS.get(role, "admin@example.org"))


def _api_headers(world, client: TestClient, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    return world.login(client, EMAILS.get(role, "admin@example.org"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "path", "expected"), PAGES, ids=[p[0] for p in PAGES])
def test_who_may_open_each_page(app, client, place, role, what, path, expected):
    answer = _page_client(app, client, role).get(path.format(**place), follow_redirects=False)
    assert answer.status_code == expected[ROLES.index(role)], what
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/staff/login")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "path", "expected"), API, ids=[a[0] for a in API])
def test_who_may_read_each_endpoint(world, client, place, role, what, path, expected):
    answer = client.get(path.format(**place), headers=_api_headers(world, client, role))
    assert answer.status_code == expected[ROLES.index(role)], what


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "method", "path"), ADMIN_ONLY, ids=[a[0] for a in ADMIN_ONLY])
def test_only_an_administrator_may_change(world, client, place, role, what, method, path):
    answer = client.request(
        method,
        path.format(**place),
        json={"advisors_take_callbacks": True},
        headers=_api_headers(world, client, role),
    )
    assert answer.status_code == {"anonymous": 401, "admin": 200}.get(role, 403), what
