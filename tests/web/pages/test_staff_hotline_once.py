"""The hotline desk's booking form books at most once (web/pages/once.py): a double click or a
form sent again gets the booking it made, and does not book the caller a second time with
another advisor free at that time."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from scheduler.db import read_session
from scheduler.models import Booking, BookingStatus, Role
from tests.web.pages.test_staff_hotline import _booking_form
from tests.web.pages.test_staff_login import post, staff_client
from web.pages.once import ONCE_FIELD


@pytest.fixture
def desk(app, world):
    """Two advisors free at every time: a second booking of the same form would succeed."""
    service = world.service(name="Wohngeld: Erstberatung", channels=["video", "phone"])
    world.advisor([service], email="anna@example.org")
    world.advisor([service], email="bernd@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    world.advisor([], email="hannes@example.org", role=Role.HOTLINE)
    return staff_client(app, "hotline@example.org"), service


def _rendered_key(client, service) -> str:
    page = client.get(f"/staff/hotline?anliegen={service.id}&kanal=phone").text
    return re.findall(rf'name="{ONCE_FIELD}" value="([^"]+)"', page)[0]


def _booked(container) -> list[tuple[str, int]]:
    with read_session(container.sessions) as session:
        rows = session.execute(
            select(Booking.name, Booking.advisor_id).where(
                Booking.status == BookingStatus.CONFIRMED
            )
        )
        return sorted((name, advisor) for name, advisor in rows)


def test_the_same_form_sent_twice_books_the_caller_once(desk, container) -> None:
    client, service = desk
    form = _booking_form(service, **{ONCE_FIELD: _rendered_key(client, service)})

    first = post(client, "/staff/hotline/buchen", form)
    again = post(client, "/staff/hotline/buchen", form)

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert re.fullmatch(r"/staff/buchungen/[A-Z0-9-]+\?neu=true", first.headers["location"])
    assert len(_booked(container)) == 1
    assert client.get(again.headers["location"]).status_code == 200


def test_the_form_changed_after_it_booked_is_a_booking_of_its_own(desk, container) -> None:
    """Back to the sent form, another caller's name: a booking of its own, with the other
    advisor free at that time."""
    client, service = desk
    key = _rendered_key(client, service)

    first = post(client, "/staff/hotline/buchen", _booking_form(service, **{ONCE_FIELD: key}))
    other = post(
        client,
        "/staff/hotline/buchen",
        _booking_form(service, name="Karl Berger", **{ONCE_FIELD: key}),
    )

    assert first.status_code == other.status_code == 303
    assert first.headers["location"] != other.headers["location"]
    booked = _booked(container)
    assert [name for name, _ in booked] == ["Helga Fischer", "Karl Berger"]
    assert booked[0][1] != booked[1][1]


def test_a_form_without_its_key_still_books(desk, container) -> None:
    """A page rendered before this field existed (a desk left open over an upgrade)."""
    client, service = desk
    assert post(client, "/staff/hotline/buchen", _booking_form(service)).status_code == 303
    assert len(_booked(container)) == 1


def test_each_desk_as_rendered_has_a_key_of_its_own(desk) -> None:
    client, service = desk
    assert _rendered_key(client, service) != _rendered_key(client, service)


def test_another_staff_members_form_with_the_same_key_is_not_their_booking(
    app, desk, container
) -> None:
    """The key is the desk's own: sent by someone else, it replays nothing."""
    client, service = desk
    form = _booking_form(service, **{ONCE_FIELD: _rendered_key(client, service)})
    colleague = staff_client(app, "hannes@example.org")

    first = post(client, "/staff/hotline/buchen", form)
    theirs = post(colleague, "/staff/hotline/buchen", form)

    assert first.status_code == theirs.status_code == 303
    assert first.headers["location"] != theirs.headers["location"]
    assert len(_booked(container)) == 2
