"""A staff change and its audit entry are one transaction: when the entry cannot be written,
the change is not made either (and neither are its messages)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from notifications.models import OutboxMessage
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session
from scheduler.models import AuditEntry, Booking, BookingStatus, Role
from scheduler.requests import BookingRequest
from scheduler.views import BookingInfo

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)


class AuditDown(Exception):
    """The audit log refused a write."""


def at(hour: int) -> datetime:
    return datetime.combine(TUESDAY, time(hour), BERLIN)


@pytest.fixture
def service(world):
    service = world.service()
    world.advisor([service], password=None)
    return service


@pytest.fixture
def hotline(world) -> StaffIdentity:
    return StaffIdentity.of(world.advisor([], role=Role.HOTLINE, password=None))


@pytest.fixture
def booking(container, service) -> BookingInfo:
    request = BookingRequest(service.id, at(9), "video", "Erika Mustermann", "erika@example.org")
    placed = container.scheduler.book(request)
    assert placed.booking is not None
    return placed.booking


@pytest.fixture
def audit_down() -> Iterator[None]:
    """Every write to the audit log fails, as a full disk or a lost connection would."""

    def refuse(*_: object) -> None:
        raise AuditDown()

    event.listen(AuditEntry, "before_insert", refuse)
    yield
    event.remove(AuditEntry, "before_insert", refuse)


def stored(container, reference: str) -> Booking:
    with read_session(container.sessions) as session:
        booking = session.scalar(select(Booking).where(Booking.reference == reference))
        assert booking is not None
        return booking


def messages(container) -> list[str]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def test_a_staff_booking_whose_audit_entry_fails_is_not_made(
    container, service, hotline, audit_down
):
    request = BookingRequest(service.id, at(9), "video", "Erika Mustermann", "erika@example.org")

    with pytest.raises(AuditDown):
        container.desk.book(hotline, request)

    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 0
    assert messages(container) == []


def test_a_staff_cancellation_whose_audit_entry_fails_is_not_made(
    container, booking, hotline, audit_down
):
    sent_before = messages(container)

    with pytest.raises(AuditDown):
        container.desk.cancel(hotline, booking.reference)

    assert stored(container, booking.reference).status == BookingStatus.CONFIRMED
    assert messages(container) == sent_before


def test_a_staff_reschedule_whose_audit_entry_fails_is_not_made(
    container, booking, hotline, audit_down
):
    sent_before = messages(container)

    with pytest.raises(AuditDown):
        container.desk.reschedule(hotline, booking.reference, at(10))

    assert stored(container, booking.reference).start_at == booking.start
    assert messages(container) == sent_before
