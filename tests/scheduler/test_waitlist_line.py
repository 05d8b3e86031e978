"""The people on one waiting list as the office sees them (scheduler/waitlist_line.py), and
taking one off it (`Waitlist.remove`): in line, with their places; for administrators and
hotline only; an open offer goes back and passes on; nobody gets a mail about the removal."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from notifications.models import OutboxMessage
from scheduler import waitlist_line
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session
from scheduler.errors import NotFound, PermissionDenied
from scheduler.models import Booking, BookingStatus, Role, Service
from scheduler.waitlist import Waitlist
from scheduler.waitlist_line import entry, line
from scheduler.waitlist_models import EntryStatus
from tests.conftest import World
from tests.scheduler.test_waitlist import (
    TUESDAY_9,
    fully_booked,
    join,
    offers,
    service,
    waitlist,
)
from web.container import Container

__all__ = ["service", "waitlist"]  # fixtures of the engine's tests, used here


@pytest.fixture
def hotline(world: World) -> StaffIdentity:
    return StaffIdentity.of(world.advisor([], role=Role.HOTLINE, email="hotline@example.org"))


def _outbox(container: Container) -> int:
    with read_session(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_the_line_is_in_order_with_the_places_of_those_waiting(
    container: Container, waitlist: Waitlist, service: Service, hotline: StaffIdentity
) -> None:
    booked = fully_booked(container, service)
    first, second, third = (join(waitlist, service, n) for n in (1, 2, 3))
    container.scheduler.cancel(booked[TUESDAY_9])
    waitlist.run()  # the first gets the freed slot offered

    shown = line(container.sessions, hotline, service.id)

    assert shown.total == 3
    assert [(e.id, e.status, e.position) for e in shown.entries] == [
        (first, EntryStatus.OFFERED, None),
        (second, EntryStatus.WAITING, 1),
        (third, EntryStatus.WAITING, 2),
    ]
    assert shown.entries[0].offer_expires_at is not None
    assert shown.entries[1].offer_expires_at is None


def test_a_search_narrows_the_line_and_keeps_the_places(
    container: Container, waitlist: Waitlist, service: Service, hotline: StaffIdentity
) -> None:
    for n in (1, 2, 3):
        join(waitlist, service, n)

    found = line(container.sessions, hotline, service.id, " W3@EXAMPLE ")

    assert found.total == 1
    assert [(e.email, e.position) for e in found.entries] == [("w3@example.org", 3)]
    assert line(container.sessions, hotline, service.id, "wartende").total == 3
    assert line(container.sessions, hotline, service.id, "%").total == 0  # no wildcard


def test_a_long_line_shows_its_first_people_and_counts_all(
    container: Container,
    waitlist: Waitlist,
    service: Service,
    hotline: StaffIdentity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(waitlist_line, "SHOWN", 2)
    for n in (1, 2, 3):
        join(waitlist, service, n)

    shown = line(container.sessions, hotline, service.id)

    assert shown.total == 3
    assert [e.position for e in shown.entries] == [1, 2]


def test_only_administrators_and_hotline_see_the_people_in_line(
    container: Container, world: World, waitlist: Waitlist, service: Service
) -> None:
    entry_id = join(waitlist, service, 1)
    advisor = StaffIdentity.of(world.advisor([service], email="own@example.org"))
    with pytest.raises(PermissionDenied):
        line(container.sessions, advisor, service.id)
    with pytest.raises(PermissionDenied):
        entry(container.sessions, advisor, entry_id)
    with pytest.raises(PermissionDenied):
        waitlist.remove(advisor, entry_id)
    assert line(container.sessions, world.admin, service.id).total == 1


def test_unknown_services_and_entries_are_not_found(
    container: Container, hotline: StaffIdentity
) -> None:
    with pytest.raises(NotFound):
        line(container.sessions, hotline, 999_999)
    with pytest.raises(NotFound):
        entry(container.sessions, hotline, 999_999)


def test_removing_gives_an_open_offer_back_and_sends_no_mail(
    container: Container, waitlist: Waitlist, service: Service, hotline: StaffIdentity
) -> None:
    booked = fully_booked(container, service)
    first, second = join(waitlist, service, 1), join(waitlist, service, 2)
    container.scheduler.cancel(booked[TUESDAY_9])
    waitlist.run()
    mails = _outbox(container)

    removed = waitlist.remove(hotline, first)

    assert removed.status == EntryStatus.REMOVED
    assert _outbox(container) == mails
    assert entry(container.sessions, hotline, first).entries[0].status == EntryStatus.REMOVED
    with read_session(container.sessions) as session:
        held = session.scalar(select(func.count()).where(Booking.status == BookingStatus.HELD))
    assert held == 0  # the offered slot is free again
    waitlist.run()
    assert [(o.entry_id, o.status) for o in offers(container)] == [
        (first, "declined"),
        (second, "open"),
    ]
    assert [e.id for e in line(container.sessions, hotline, service.id).entries] == [second]
    assert waitlist.remove(hotline, first).status == EntryStatus.REMOVED  # twice: no change
