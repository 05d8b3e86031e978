"""The booking pages and the citizens' API store the same address and the same cap key for
one typed e-mail address, and share one cap (scheduler/addresses.py)."""

from __future__ import annotations

from sqlalchemy import select

from scheduler.models import Booking
from tests.web.pages.test_citizen_flow import (
    TUESDAY,
    at,
    make_service,
    open_page,
    submit_details,
)

TYPED = "Erika+Termin@Example.ORG"


def api_booking(client, service, hour: int, email: str):
    body = {
        "service_id": service.id,
        "start": at(TUESDAY, hour).isoformat(),
        "channel": "video",
        "name": "Erika Mustermann",
        "email": email,
    }
    return client.post("/api/v1/bookings", json=body)


def form_booking(client, service, hour: int, email: str):
    path = f"/buchen/{service.id}/angaben"
    form = open_page(client, path, kanal="video", start=at(TUESDAY, hour).isoformat())
    return submit_details(client, form, path, email=email)


def rows(container) -> list[tuple[str | None, str | None]]:
    with container.sessions() as session:
        found = session.scalars(select(Booking).order_by(Booking.id))
        return [(b.email, b.email_key) for b in found]


def test_the_form_and_the_api_store_the_same_address_and_key(client, world, container):
    service = make_service(world)

    assert form_booking(client, service, 9, TYPED).status_code == 303
    assert api_booking(client, service, 10, TYPED).status_code == 201

    by_form, by_api = rows(container)
    assert by_form == by_api
    assert by_form == ("Erika+Termin@example.org", "erika@example.org")


def test_the_form_and_the_api_share_one_cap(client, world, container):
    service = make_service(world)
    assert api_booking(client, service, 9, "erika@example.org").status_code == 201
    assert form_booking(client, service, 10, "ｅｒｉｋａ+2@example.org").status_code == 303

    by_form = form_booking(client, service, 11, "erikа@example.org")  # a Cyrillic а
    by_api = api_booking(client, service, 13, "ERIKA+3@example.org")

    assert by_form.status_code == 422
    assert "schon 2 offene Termine" in by_form.text
    assert by_api.status_code == 409
    assert by_api.json()["code"] == "too_many_open_bookings"
