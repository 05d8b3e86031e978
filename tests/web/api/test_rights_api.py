"""A citizen's rights through the magic link (scheduler/rights.py, web/api/rights.py):
`GET /api/v1/booking/export` shows everything held about the booking's person, and
`POST /api/v1/booking/erase` erases it once the appointment is over or cancelled, as the
retention purge would, leaving the figures statistics need."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from documents.models import BookingDocument
from notifications.models import OutboxMessage
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session
from scheduler.models import AuditEntry, Booking
from scheduler.rights import ERASED_ON_REQUEST
from tests.conftest import booking_body
from tests.documents.test_document_desk import make_pdf
from tests.web.api.test_api_public import TUESDAY, at, bearer, booked, manage_token
from tests.web.api.test_callbacks_api import body as callback_body

EMAIL = "Erika@example.org"  # the domain is stored lower-cased


@pytest.fixture
def service(world):
    return world.service(channels=["video", "phone"])


@pytest.fixture
def advisor(world, service):
    return world.advisor([service], email="advisor@example.org")


@pytest.fixture
def booking(client, service, advisor):
    return booked(client, booking_body(service, at(TUESDAY, 9), email=EMAIL, phone="0391 1"))


@pytest.fixture
def token(booking) -> str:
    return manage_token(booking)


def row(container, reference: str) -> Booking:
    with read_session(container.sessions) as session:
        return session.scalars(select(Booking).where(Booking.reference == reference)).one()


def test_the_export_holds_the_booking_notes_access_mails_documents_and_the_rest(
    client, container, service, advisor, booking, token
) -> None:
    staff = StaffIdentity.of(advisor)
    container.desk.booking(staff, booking["reference"])  # a read, audited
    container.desk.add_note(staff, booking["reference"], "Bescheid vom März fehlt")
    container.outbox.deliver_due()
    booking_id = row(container, booking["reference"]).id
    container.documents.hand_in(booking_id, make_pdf(), "Bescheid.pdf", "Bescheid")
    other = booked(client, booking_body(service, at(TUESDAY, 11), email="erika@example.ORG"))
    client.post("/api/v1/callbacks", json=callback_body(service.id, email="erika@example.org"))
    booked(client, booking_body(service, at(TUESDAY, 13), email="someone@example.org"))

    response = client.get("/api/v1/booking/export", headers=bearer(token))

    assert response.status_code == 200
    export = response.json()
    assert export["booking"]["reference"] == booking["reference"]
    assert (export["booking"]["name"], export["booking"]["email"]) == (
        "Erika Mustermann",
        EMAIL,
    )
    assert export["booking"]["phone"] == "0391 1"
    assert [note["text"] for note in export["staff_notes"]] == ["Bescheid vom März fehlt"]
    assert {"action": "read", "role": "advisor"}.items() <= export["access_log"][0].items()
    # The confirmation (kept for /dev/mail: no SMTP server here), and the reminders ahead.
    assert (export["emails"][0]["kind"], export["emails"][0]["status"]) == ("confirmation", "kept")
    assert {mail["kind"] for mail in export["emails"][1:]} == {"reminder"}
    assert {mail["recipient"] for mail in export["emails"]} == {EMAIL}
    assert [(d["name"], d["label"], d["status"]) for d in export["documents"]] == [
        ("Bescheid.pdf", "Bescheid", "pending")
    ]
    # The same address elsewhere, whatever its case; nobody else's.
    assert [b["reference"] for b in export["other_bookings"]] == [other["reference"]]
    assert [c["phone"] for c in export["callbacks"]] == ["0391 123456"]
    assert export["waitlist"] == []


def test_erasing_before_the_appointment_is_refused_and_changes_nothing(
    client, container, booking, token
) -> None:
    response = client.post("/api/v1/booking/erase", headers=bearer(token))

    assert response.status_code == 409
    assert response.json()["code"] == "booking_not_over"
    assert row(container, booking["reference"]).name == "Erika Mustermann"
    assert client.get("/api/v1/booking", headers=bearer(token)).status_code == 200


def test_a_cancelled_booking_is_erased_at_once_with_its_documents_and_mails(
    client, container, service, booking, token
) -> None:
    booking_id = row(container, booking["reference"]).id
    container.documents.hand_in(booking_id, make_pdf(), "Bescheid.pdf")
    assert client.post("/api/v1/booking/cancel", headers=bearer(token)).status_code == 200
    container.outbox.deliver_due()

    response = client.post("/api/v1/booking/erase", headers=bearer(token))

    assert response.status_code == 200
    answer = response.json()
    assert answer["erased"] is True
    assert answer["counts"]["bookings_anonymised"] == 1
    assert answer["counts"]["documents_erased"] == 1
    # The confirmation, the reminders (withdrawn by the cancellation) and the cancellation.
    assert answer["counts"]["outbox_messages_deleted"] >= 2
    erased = row(container, booking["reference"])
    assert (erased.name, erased.email, erased.phone, erased.search_key) == ("", None, None, "")
    # What statistics need stays.
    assert (erased.service_id, erased.status, erased.channel) == (service.id, "cancelled", "video")
    with read_session(container.sessions) as session:
        assert session.scalars(select(BookingDocument)).all() == []
        assert (
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.booking_id == booking_id)
            ).all()
            == []
        )
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.booking_id == booking_id)
        ).all()
    assert actions == [ERASED_ON_REQUEST]
    assert container.documents.erasure.orphan_blobs() == []
    # The link has nothing left to show or erase.
    assert client.get("/api/v1/booking", headers=bearer(token)).status_code == 401
    assert client.post("/api/v1/booking/erase", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/booking/export", headers=bearer(token)).status_code == 401


def test_a_booking_is_erased_once_its_appointment_has_ended(
    client, container, clock, booking, token
) -> None:
    clock.now = row(container, booking["reference"]).end_at - timedelta(seconds=1)
    assert client.post("/api/v1/booking/erase", headers=bearer(token)).status_code == 409
    clock.now += timedelta(seconds=1)

    response = client.post("/api/v1/booking/erase", headers=bearer(token))

    assert response.status_code == 200
    assert row(container, booking["reference"]).name == ""


def test_erasing_one_booking_leaves_the_person_s_other_bookings(
    client, container, service, booking, token
) -> None:
    other = booked(client, booking_body(service, at(TUESDAY, 11), email=EMAIL))
    client.post("/api/v1/booking/cancel", headers=bearer(token))

    assert client.post("/api/v1/booking/erase", headers=bearer(token)).status_code == 200

    assert row(container, other["reference"]).name == "Erika Mustermann"
    assert client.get("/api/v1/booking", headers=bearer(manage_token(other))).status_code == 200


@pytest.mark.parametrize(("method", "path"), [("GET", "export"), ("POST", "erase")])
def test_a_forged_or_missing_link_is_refused(client, booking, token, method, path) -> None:
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for headers in (bearer(forged), bearer("not-a-token"), {}):
        response = client.request(method, f"/api/v1/booking/{path}", headers=headers)
        assert response.status_code == 401
