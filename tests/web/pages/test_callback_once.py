"""A callback request is made at most once per form (web/pages/once.py) and per
`Idempotency-Key`: a double click on the citizen's form or on the hotline's does not put the
citizen in the queue twice, to be called twice."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduler.callbacks_models import CallbackRequest
from scheduler.callbacks_rules import CallbackInput
from scheduler.db import read_session
from scheduler.idempotency import Idempotency
from scheduler.models import Booking, Role
from tests.web.pages.test_callback_form import _form
from tests.web.pages.test_citizen_flow import read
from tests.web.pages.test_staff_callbacks import VALID, at
from tests.web.pages.test_staff_login import post, staff_client
from web.pages.once import ONCE_FIELD

pytestmark = pytest.mark.usefixtures("people")


@pytest.fixture
def service(world):
    return world.service(name="Wohngeld: Erstberatung", channels=["video", "phone"])


@pytest.fixture
def people(world, service):
    world.advisor([service], email="anna@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    world.advisor([], email="hannelore@example.org", role=Role.HOTLINE)


def _references(container) -> list[str]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(CallbackRequest.reference)))


def test_the_citizens_form_sent_twice_asks_once(client, service, container) -> None:
    form = _form(client, service)
    assert form[ONCE_FIELD]

    first = read(client.post("/rueckruf", data=form))
    again = read(client.post("/rueckruf", data=form))

    assert first.status == again.status == 200
    [reference] = _references(container)
    assert reference in first.text
    assert reference in again.text


def test_the_citizens_form_changed_after_it_was_sent_is_a_request_of_its_own(
    client, service, container
) -> None:
    form = _form(client, service)

    assert read(client.post("/rueckruf", data=form)).status == 200
    assert read(client.post("/rueckruf", data=form | {"zeit1": "14-16"})).status == 200

    assert len(_references(container)) == 2


def test_the_hotlines_form_sent_twice_asks_once(app, service, container) -> None:
    client = staff_client(app, "hotline@example.org")
    page = client.get("/staff/rueckrufe/neu").text
    [key] = re.findall(rf'name="{ONCE_FIELD}" value="([^"]+)"', page)
    form = {**VALID, "anliegen": str(service.id), ONCE_FIELD: key}

    first = post(client, "/staff/rueckrufe/neu", form)
    again = post(client, "/staff/rueckrufe/neu", form)

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(_references(container)) == 1
    assert (
        key
        != re.findall(
            rf'name="{ONCE_FIELD}" value="([^"]+)"', client.get("/staff/rueckrufe/neu").text
        )[0]
    )


def test_the_api_with_the_same_key_and_body_asks_once(client, service, container) -> None:
    body = {
        "service_id": service.id,
        "name": "Erika Mustermann",
        "phone": "0391 123456",
        "windows": [{"start": at(10).isoformat(), "end": at(12).isoformat()}],
    }
    headers = {"Idempotency-Key": "anruf-7"}

    first = client.post("/api/v1/callbacks", json=body, headers=headers)
    again = client.post("/api/v1/callbacks", json=body, headers=headers)
    other = client.post("/api/v1/callbacks", json=body | {"name": "Karl"}, headers=headers)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["reference"] == first.json()["reference"]
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert _references(container) == [first.json()["reference"]]


def test_one_key_sent_at_once_from_eight_threads_makes_one_request(service, container) -> None:
    data = CallbackInput(
        service_id=service.id,
        name="Erika Mustermann",
        phone="0391 123456",
        windows=[(at(10), at(10) + timedelta(hours=2))],
        language="de",
    )
    once = Idempotency("callback:race", "same body")

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: container.callbacks.request(data, once), range(8)))

    assert {m.reference for m in made} == set(_references(container))
    assert len(_references(container)) == 1


def _asked_and_reached(app, container, service):
    asked = container.callbacks.request(
        CallbackInput(
            service_id=service.id,
            name="Erika Mustermann",
            phone="0391 123456",
            windows=[(at(10), at(12))],
            language="de",
        )
    )
    client = staff_client(app, "hotline@example.org")
    post(client, f"/staff/rueckrufe/{asked.id}/versuch", {"outcome": "reached"})
    return asked, client


def _bookings(container) -> int:
    with read_session(container.sessions) as session:
        return len(list(session.scalars(select(Booking.id))))


def test_a_callbacks_booking_confirmed_twice_leads_to_the_booking_it_made(
    app, service, container
) -> None:
    asked, client = _asked_and_reached(app, container, service)
    confirm = {"start": "2031-01-07T09:00:00+01:00", "kanal": "phone", "berater": ""}

    first = post(client, f"/staff/rueckrufe/{asked.id}/buchen", confirm)
    again = post(client, f"/staff/rueckrufe/{asked.id}/buchen", confirm)

    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert _bookings(container) == 1


def test_a_colleagues_confirmation_for_a_booked_callback_is_still_refused(
    app, service, container
) -> None:
    asked, client = _asked_and_reached(app, container, service)
    confirm = {"start": "2031-01-07T09:00:00+01:00", "kanal": "phone", "berater": ""}
    assert post(client, f"/staff/rueckrufe/{asked.id}/buchen", confirm).status_code == 303
    colleague = staff_client(app, "hannelore@example.org")

    theirs = post(colleague, f"/staff/rueckrufe/{asked.id}/buchen", confirm)

    assert theirs.status_code == 409
    assert _bookings(container) == 1
