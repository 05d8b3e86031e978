"""The transactional outbox: every booking change writes its messages in its own transaction,
so a committed change always has them and a refused or rolled-back change has none."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from notifications.messages import MessageKind
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import _MessageIds
from scheduler.db import read_session
from scheduler.errors import SlotUnavailable
from scheduler.events import BookingEvent
from scheduler.models import Booking, Service
from scheduler.requests import BookingRequest, Placed
from tests.conftest import World, booking_body
from tests.notifications.conftest import CITIZEN, TUESDAY, book, deliver_all, outbox
from web.container import Container

PHONE = "0176 1234567"


@pytest.fixture
def service(world: World) -> Service:
    service = world.service()
    world.advisor([service])
    return service


def _kinds(container: Container) -> list[str]:
    return [m.kind for m in outbox(container)]


def _bookings(container: Container) -> int:
    with read_session(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(Booking)) or 0


class Boom(Exception):
    pass


def test_booking_and_its_messages_are_committed_together(
    container: Container, service: Service, client: TestClient
) -> None:
    seen_inside: list[tuple[int, int]] = []

    def look(session: Session, event: BookingEvent) -> None:
        """After the writer, before the commit: the rows exist in this transaction only."""
        mine = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
        with read_session(container.sessions) as other:
            theirs = other.scalar(select(func.count()).select_from(OutboxMessage)) or 0
        seen_inside.append((mine, theirs))

    container.scheduler.events.subscribe(look)

    response = client.post("/api/v1/bookings", json=booking_body(service, TUESDAY))

    assert response.status_code == 201, response.text
    assert seen_inside == [(3, 0)]
    reference = response.json()["reference"]
    with read_session(container.sessions) as session:
        booking = session.scalar(select(Booking).where(Booking.reference == reference))
        assert booking is not None
        messages = list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.booking_id == booking.id))
        )
    assert [m.kind for m in messages] == ["confirmation", "reminder", "reminder"]
    assert {m.created_at for m in messages} == {booking.created_at}
    assert {m.recipient for m in messages} == {CITIZEN}


@pytest.mark.parametrize(
    ("start", "status"),
    [(TUESDAY, 409), (TUESDAY.replace(minute=10), 422)],
    ids=["slot_taken", "off_grid"],
)
def test_refused_booking_writes_no_message(
    container: Container, service: Service, client: TestClient, start: object, status: int
) -> None:
    book(container, service, TUESDAY, email="first@example.org")
    before = [m.id for m in outbox(container)]

    response = client.post("/api/v1/bookings", json=booking_body(service, start))

    assert response.status_code == status, response.text
    assert [m.id for m in outbox(container)] == before
    assert {m.recipient for m in outbox(container)} == {"first@example.org"}


def test_idempotent_replay_writes_no_second_confirmation(
    container: Container, service: Service, client: TestClient
) -> None:
    headers = {"Idempotency-Key": "booking-attempt-1"}
    body = booking_body(service, TUESDAY)

    first = client.post("/api/v1/bookings", json=body, headers=headers)
    again = client.post("/api/v1/bookings", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert _kinds(container) == ["confirmation", "reminder", "reminder"]


def _hotline_phone_booking(
    container: Container, world: World, service: Service, email: str | None
) -> Placed:
    return container.desk.book(
        world.admin,
        BookingRequest(
            service_id=service.id,
            start=TUESDAY,
            channel="phone",
            name="Erika Mustermann",
            email=email,
            phone=PHONE,
        ),
    )


def test_phone_callback_booked_by_the_hotline_gets_the_callback_message(
    container: Container, world: World, service: Service
) -> None:
    placed = _hotline_phone_booking(container, world, service, CITIZEN)

    assert placed.booking is not None
    deliver_all(container)
    [callback, *reminders] = outbox(container)
    assert callback.kind == MessageKind.CALLBACK_SCHEDULED
    assert callback.subject is not None
    assert callback.text_body is not None
    assert callback.subject.startswith(f"Rückruf vereinbart {placed.booking.reference}")
    assert f"Wir rufen Sie zur Terminzeit unter {PHONE} an." in callback.text_body
    assert callback.ics_method == "REQUEST"
    assert [m.kind for m in reminders] == ["reminder", "reminder"]


def test_phone_booking_by_the_citizen_gets_a_confirmation(
    container: Container, service: Service
) -> None:
    book(container, service, TUESDAY, channel="phone", phone=PHONE)

    assert _kinds(container) == ["confirmation", "reminder", "reminder"]


def test_phone_booking_without_email_writes_nothing(
    container: Container, world: World, service: Service
) -> None:
    placed = _hotline_phone_booking(container, world, service, None)
    assert placed.booking is not None
    reference = placed.booking.reference
    container.desk.reschedule(world.admin, reference, TUESDAY + timedelta(days=1))
    container.desk.reissue_link(world.admin, reference)
    container.desk.cancel(world.admin, reference)

    assert outbox(container) == []


def test_every_change_writes_its_message(
    container: Container, world: World, service: Service
) -> None:
    booking = book(container, service, TUESDAY)
    container.scheduler.reschedule(booking.reference, TUESDAY + timedelta(days=1))
    container.desk.reissue_link(world.admin, booking.reference)
    container.scheduler.cancel(booking.reference)

    told = [m.kind for m in outbox(container) if m.kind != MessageKind.REMINDER]
    assert told == ["confirmation", "reschedule", "link_reissued", "cancellation"]
    assert outbox(container, kind=MessageKind.REMINDER, status=OutboxStatus.PENDING) == []


def test_cancelling_twice_writes_one_cancellation(container: Container, service: Service) -> None:
    booking = book(container, service, TUESDAY)
    container.scheduler.cancel(booking.reference)
    container.scheduler.cancel(booking.reference)

    assert _kinds(container).count("cancellation") == 1


def test_refused_reschedule_writes_nothing_and_keeps_the_reminders(
    container: Container, service: Service
) -> None:
    book(container, service, TUESDAY.replace(hour=10), email="other@example.org")
    booking = book(container, service, TUESDAY)
    before = [(m.id, m.status) for m in outbox(container)]

    with pytest.raises(SlotUnavailable):
        container.scheduler.reschedule(booking.reference, TUESDAY.replace(hour=10))

    assert [(m.id, m.status) for m in outbox(container)] == before
    assert {status for _, status in before} == {OutboxStatus.PENDING}


def test_booking_rolled_back_after_its_messages_were_written_leaves_none(
    container: Container, service: Service
) -> None:
    def fail(session: Session, event: BookingEvent) -> None:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 3
        raise Boom("after the outbox writer")

    container.scheduler.events.subscribe(fail)

    with pytest.raises(Boom):
        book(container, service, TUESDAY)

    assert outbox(container) == []
    assert _bookings(container) == 0


def test_cancellation_rolled_back_after_its_message_was_written_leaves_none(
    container: Container, service: Service
) -> None:
    booking = book(container, service, TUESDAY)
    before = [(m.id, m.kind, m.status) for m in outbox(container)]

    def fail(session: Session, event: BookingEvent) -> None:
        raise Boom("after the outbox writer")

    container.scheduler.events.subscribe(fail)

    with pytest.raises(Boom):
        container.scheduler.cancel(booking.reference)

    assert [(m.id, m.kind, m.status) for m in outbox(container)] == before
    with read_session(container.sessions) as session:
        assert session.get(Booking, booking.id).status == "confirmed"  # type: ignore[union-attr]


def test_a_booking_cancelled_before_its_confirmation_went_out_gets_only_the_cancellation(
    container: Container, service: Service
) -> None:
    """Messages are composed when sent: nothing confirms or reminds of a cancelled booking."""
    booking = book(container, service, TUESDAY)
    container.scheduler.cancel(booking.reference)

    deliver_all(container)

    by_kind = {m.kind: m for m in outbox(container)}
    assert by_kind[MessageKind.CONFIRMATION].status == OutboxStatus.SUPERSEDED
    assert by_kind[MessageKind.CONFIRMATION].last_error == "booking cancelled or gone"
    assert by_kind[MessageKind.CANCELLATION].status == OutboxStatus.SENT
    assert by_kind[MessageKind.CANCELLATION].ics_method == "CANCEL"


def test_message_ids_are_unique_and_a_forked_process_draws_its_own():
    new_id = _MessageIds()
    ids = {new_id("example.org") for _ in range(20_000)}
    assert len(ids) == 20_000
    assert all(re.fullmatch(r"<[0-9a-f]{32}@example\.org>", i) for i in ids)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and leaves
        os.write(write, new_id("example.org").encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        drawn_by_child = pipe.read()
    # Without drawing a new seed the child would have continued the parent's sequence.
    assert drawn_by_child != new_id("example.org")
    assert drawn_by_child not in ids
