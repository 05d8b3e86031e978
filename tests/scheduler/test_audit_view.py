"""The audit viewer (scheduler/audit_view.py): filters by person, staff member, booking and
period (days in Berlin), pages, the CSV export; only administrators, and every look audited."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from scheduler.accounts import StaffIdentity
from scheduler.audit_view import PAGE_SIZE, AuditFilter, AuditLog
from scheduler.db import read_session, write_session
from scheduler.errors import PermissionDenied
from scheduler.models import AuditEntry, Role
from scheduler.people import Person
from scheduler.requests import BookingRequest


@pytest.fixture
def log(container):
    return AuditLog(container.sessions, container.scheduler.clock, container.scheduler.tz)


@pytest.fixture
def setting(container, world):
    service = world.service(name="Wohngeld")
    anna = world.advisor([service], email="anna@example.org")

    def book(hour, email, phone):
        return container.scheduler.book(
            BookingRequest(
                service_id=service.id,
                start=datetime(2031, 1, 7, hour, tzinfo=UTC),
                channel="phone",
                name="Someone",
                email=email,
                phone=phone,
                advisor_id=anna.id,
            )
        ).booking

    erika = book(8, "erika@example.org", "0391 540-0815")
    erika_by_phone = book(9, None, "+49 391 5400815")
    max_ = book(10, "max@example.org", "0391 777777")
    entries = [
        # 23:30 UTC on the 7th is already the 8th in Berlin.
        (datetime(2031, 1, 7, 23, 30, tzinfo=UTC), anna.id, "booking_viewed", erika.id),
        (datetime(2031, 1, 7, 12, 0, tzinfo=UTC), anna.id, "booking_viewed", max_.id),
        (
            datetime(2031, 1, 6, 12, 0, tzinfo=UTC),
            world.admin.id,
            "booking_viewed",
            erika_by_phone.id,
        ),
    ]
    with write_session(container.sessions) as session:
        session.add_all(
            AuditEntry(at=at, actor_id=actor, action=action, booking_id=booking, detail="seen")
            for at, actor, action, booking in entries
        )
    return {"anna": StaffIdentity.of(anna), "erika": erika, "by_phone": erika_by_phone, "max": max_}


def _refs(page):
    return [row.reference for row in page.rows if row.action == "booking_viewed"]


def test_a_person_is_found_by_address_or_phone_across_their_bookings(log, world, setting):
    by_mail = log.page(world.admin, AuditFilter(person=Person(email="ERIKA@example.org")))
    assert _refs(by_mail) == [setting["erika"].reference]
    by_phone = log.page(world.admin, AuditFilter(person=Person(phone="0391 5400815")))
    assert _refs(by_phone) == [setting["erika"].reference, setting["by_phone"].reference]


def test_filters_by_staff_member_booking_and_berlin_days(log, world, setting):
    anna = setting["anna"]
    assert _refs(log.page(world.admin, AuditFilter(staff_id=anna.id))) == [
        setting["erika"].reference,
        setting["max"].reference,
    ]
    reference = setting["max"].reference.lower()
    assert _refs(log.page(world.admin, AuditFilter(reference=reference))) == [
        setting["max"].reference
    ]
    eighth = log.page(world.admin, AuditFilter(first=date(2031, 1, 8), last=date(2031, 1, 8)))
    assert _refs(eighth) == [setting["erika"].reference]
    assert eighth.rows[0].at.hour == 0  # shown in Berlin time


def test_viewing_and_exporting_are_audited_without_the_address_searched_for(
    log, container, world, setting
):
    log.page(world.admin, AuditFilter(person=Person(email="erika@example.org"), staff_id=3))
    log.export(world.admin, AuditFilter(first=date(2031, 1, 6)))
    with read_session(container.sessions) as session:
        notes = session.execute(
            select(AuditEntry.action, AuditEntry.detail, AuditEntry.actor_id).where(
                AuditEntry.action.like("audit_%")
            )
        ).all()
    assert notes == [
        ("audit_viewed", "person staff=3 page=1", world.admin.id),
        ("audit_exported", "from=2031-01-06 rows=4", world.admin.id),  # and the view
    ]
    assert all("erika" not in detail for _, detail, _ in notes)


def test_the_export_is_a_semicolon_csv_of_the_filtered_entries(log, world, setting):
    content = log.export(world.admin, AuditFilter(staff_id=setting["anna"].id))
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["time", "staff_member", "action", "booking", "detail"]
    assert [r[3] for r in rows[1:]] == [setting["erika"].reference, setting["max"].reference]
    assert rows[1][0] == "2031-01-08T00:30:00+01:00"


def test_pages_hold_fifty_entries_newest_first(log, container, world, setting):
    with write_session(container.sessions) as session:
        session.add_all(
            AuditEntry(
                at=datetime(2031, 1, 1, 0, n, tzinfo=UTC), actor_id=world.admin.id, action="x"
            )
            for n in range(PAGE_SIZE + 5)
        )
    wanted = AuditFilter(last=date(2031, 1, 1))
    first = log.page(world.admin, wanted)
    assert (first.total, first.pages, len(first.rows)) == (PAGE_SIZE + 5, 2, PAGE_SIZE)
    assert first.rows[0].at > first.rows[-1].at
    second = log.page(world.admin, wanted, page=9)  # beyond the end: the last page
    assert (second.page, len(second.rows)) == (2, 5)


@pytest.mark.parametrize("role", [Role.ADVISOR, Role.HOTLINE])
def test_only_administrators_read_the_log(log, world, setting, role):
    other = StaffIdentity.of(world.advisor([], role=role, email=f"{role}@example.org"))
    with pytest.raises(PermissionDenied):
        log.page(other, AuditFilter())
    with pytest.raises(PermissionDenied):
        log.export(other, AuditFilter())
