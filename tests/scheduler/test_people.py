"""Requests about a person by phone or letter (scheduler/people.py): administrators find every
record of a person by e-mail address or phone number, export them, and erase them (confirmed
with the counts they saw); nobody else may, and nothing personal of that person is left."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import inspect, select

from scheduler.accounts import StaffIdentity
from scheduler.callbacks_models import CallbackRequest
from scheduler.db import read_session
from scheduler.errors import PermissionDenied
from scheduler.models import AuditEntry, Booking, Role
from scheduler.people import Person, PersonBusy, PersonUnspecified, RecordsChanged
from scheduler.statistics import StatsQuery
from tests.conftest import booking_body
from tests.documents.test_document_desk import make_pdf
from tests.web.api.test_api_public import TUESDAY, at, bearer, booked, manage_token
from tests.web.api.test_callbacks_api import body as callback_body

ERIKA = "erika@example.org"
PHONE = "0391 540-0815"


@pytest.fixture
def service(world):
    return world.service(channels=["video", "phone"])


@pytest.fixture
def admin(world, service) -> StaffIdentity:
    world.advisor([service], email="advisor@example.org")
    return StaffIdentity.of(world.advisor([], role=Role.ADMIN, email="dpo@example.org"))


@pytest.fixture
def erika(client, container, service, admin):
    """Erika's records: two bookings (one by phone number only), a callback request, a place
    on the waiting list, a document; and Max's, who must stay."""
    first = booked(client, booking_body(service, at(TUESDAY, 9), email=ERIKA, phone=PHONE))
    second = booked(
        client,
        booking_body(
            service,
            at(TUESDAY, 10),
            name="E. Mustermann",
            email="e.m@example.net",
            phone="+49 391 5400815",
        ),
    )
    maximilian = booked(
        client,
        booking_body(
            service,
            at(TUESDAY, 11),
            name="Max Muster",
            email="max@example.org",
            phone="0391 5400816",
        ),
    )
    client.post("/api/v1/callbacks", json=callback_body(service.id, email="ERIKA@example.org"))
    joined = client.post(
        "/api/v1/waitlist",
        json={
            "service_id": service.id,
            "name": "Erika Mustermann",
            "email": ERIKA,
            "channel": "video",
        },
    )
    assert joined.status_code == 201, joined.text
    booking_id = row(container, first["reference"]).id
    container.documents.hand_in(booking_id, make_pdf(), "Bescheid.pdf")
    return {"first": first, "second": second, "max": maximilian}


def row(container, reference: str) -> Booking:
    with read_session(container.sessions) as session:
        return session.scalars(select(Booking).where(Booking.reference == reference)).one()


def test_a_person_is_found_by_address_or_by_number_however_written(container, admin, erika) -> None:
    people = container.people
    by_mail = people.find(admin, Person(email="Erika@EXAMPLE.org"))
    by_phone = people.find(admin, Person(phone="+49 (391) 5400815"))
    both = people.find(admin, Person(email=ERIKA, phone="0049 391 5400815"))

    assert by_mail["counts"] == {"bookings": 1, "callbacks": 1, "waitlist": 1}
    assert [b["booking"]["reference"] for b in by_phone["bookings"]] == [
        erika["first"]["reference"],
        erika["second"]["reference"],
    ]
    assert by_phone["callbacks"] == []  # the request's number is another one
    assert both["counts"] == {"bookings": 2, "callbacks": 1, "waitlist": 1}
    assert both["bookings"][0]["documents"][0]["name"] == "Bescheid.pdf"
    assert both["bookings"][0]["emails"][0]["kind"] == "confirmation"


@pytest.mark.parametrize("person", [{}, {"phone": "0815"}, {"email": " ", "phone": ""}])
def test_a_name_or_a_few_digits_select_nobody(person) -> None:
    with pytest.raises(PersonUnspecified):
        Person(**person)


@pytest.mark.parametrize("role", [Role.ADVISOR, Role.HOTLINE])
def test_only_administrators_may_find_export_or_erase(world, container, erika, role) -> None:
    staff = StaffIdentity.of(world.advisor([], role=role, email=f"other-{role.value}@example.org"))
    person = Person(email=ERIKA)
    for act in (container.people.find, container.people.export):
        with pytest.raises(PermissionDenied):
            act(staff, person)
    with pytest.raises(PermissionDenied):
        container.people.erase(staff, person, {"bookings": 1, "callbacks": 1, "waitlist": 1})


def test_searches_and_exports_are_audited_without_the_address_searched_for(
    container, admin, erika
) -> None:
    container.people.find(admin, Person(email=ERIKA))
    container.people.export(admin, Person(email=ERIKA))
    booking_id = row(container, erika["first"]["reference"]).id

    with read_session(container.sessions) as session:
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.booking_id, AuditEntry.detail).where(
                AuditEntry.action.like("person_%")
            )
        ).all()
    assert ("person_export", booking_id, "") in entries
    details = [detail for action, _, detail in entries if _ is None]
    assert details == ["bookings=1, callbacks=1, waitlist=1"] * 2
    assert all("erika" not in detail for *_, detail in entries)


def test_erasure_is_refused_while_something_is_under_way_or_the_records_changed(
    client, container, admin, erika
) -> None:
    person = Person(email=ERIKA)
    counts = {"bookings": 1, "callbacks": 1, "waitlist": 1}
    with pytest.raises(PersonBusy):  # the appointment is still to come, the request waits
        container.people.erase(admin, person, counts)
    with pytest.raises(RecordsChanged):
        container.people.erase(admin, person, counts | {"bookings": 2})
    assert row(container, erika["first"]["reference"]).name == "Erika Mustermann"


def test_erasure_leaves_nothing_of_the_person_and_everything_of_others(
    client, container, admin, erika
) -> None:
    token = manage_token(erika["first"])
    assert client.post("/api/v1/booking/cancel", headers=bearer(token)).status_code == 200
    with read_session(container.sessions) as session:
        callback_id = session.scalars(select(CallbackRequest.id)).one()
    container.callbacks.claim(admin, callback_id)
    container.callbacks.settle(admin, callback_id)
    container.outbox.deliver_due()
    person = Person(email=ERIKA)
    figures = StatsQuery(date(2031, 1, 1), date(2031, 1, 31))
    before = container.statistics.report(figures)

    counts = container.people.erase(admin, person, {"bookings": 1, "callbacks": 1, "waitlist": 1})

    assert counts["bookings_anonymised"] == 1
    assert counts["documents_erased"] == 1
    assert counts["callback_requests_deleted"] == 1
    assert counts["waitlist_entries_deleted"] == 1
    assert counts["mails_to_person_deleted"] >= 1  # the waiting list's and the callback's
    # The anonymous booking stays for the statistics, without anything that finds it.
    assert container.people.find(admin, person)["counts"] == {
        "bookings": 0,
        "callbacks": 0,
        "waitlist": 0,
    }
    left = everything(container)
    for value in ("erika@example.org", "Erika Mustermann", "0391 540-0815", "0391 123456"):
        found = [(where, text[:80]) for where, text in left if value.lower() in text.lower()]
        assert found == [], (value, found)
    assert container.statistics.report(figures) == before  # the figures keep what they need
    assert row(container, erika["max"]["reference"]).email == "max@example.org"
    assert row(container, erika["second"]["reference"]).name == "E. Mustermann"  # not asked for


def everything(container) -> list[tuple[str, str]]:
    """Every text value in every table, with where it is."""
    found = []
    with container.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for record in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):
                found += [(table, str(value)) for value in record if value is not None]
    return found
