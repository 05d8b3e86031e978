"""The appointments of a day or a team as CSV (scheduler/appointment_export.py): local times,
names only when asked for, an advisor only their own, every export audited."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from scheduler.accounts import StaffIdentity
from scheduler.appointment_export import AppointmentExport, RangeTooLong
from scheduler.db import read_session
from scheduler.errors import InvalidRequest, NotFound, PermissionDenied
from scheduler.models import AuditEntry, Role
from scheduler.requests import BookingRequest

TUESDAY = date(2031, 1, 7)


def at(hour: int, day: int = 7) -> datetime:
    return datetime(2031, 1, day, hour - 1, 0, tzinfo=UTC)  # Berlin is UTC+1 in January


@pytest.fixture
def exporter(container):
    return AppointmentExport(container.sessions, container.scheduler.clock, container.scheduler.tz)


@pytest.fixture
def office(container, world):
    team = container.catalogue.create_team(world.admin, "Wohnen", None)
    housing = world.service(name="Wohngeld", team_id=team.id)
    other = world.service(name="=Formel")
    anna = world.advisor([housing, other], email="anna@example.org")
    bernd = world.advisor([housing], email="bernd@example.org")

    def book(service, start, advisor, name):
        placed = container.scheduler.book(
            BookingRequest(
                service_id=service.id,
                start=start,
                channel="phone",
                name=name,
                email=None,
                phone="0391 123456",
                advisor_id=advisor.id,
            )
        )
        return placed.booking

    return {
        "team": team,
        "anna": StaffIdentity.of(anna),
        "bookings": [
            book(housing, at(9), anna, "Erika Mustermann"),
            book(other, at(10), anna, "Max Muster"),
            book(housing, at(9), bernd, "Jana Jansen"),
            book(housing, at(9, day=8), bernd, "Next Day"),
        ],
    }


def _rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def test_a_days_export_has_local_times_and_no_names_by_default(exporter, world, office):
    exported = exporter.day(world.admin, TUESDAY)
    rows = _rows(exported.content)
    assert rows[0] == [
        "reference",
        "date",
        "start",
        "end",
        "service",
        "advisor",
        "channel",
        "status",
    ]
    first = office["bookings"][0]
    assert rows[1] == [
        first.reference,
        "2031-01-07",
        "09:00",
        "09:30",
        "Wohngeld",
        "Advisor 1",
        "phone",
        "confirmed",
    ]
    assert len(rows) == 4  # the next day's appointment is not in it
    assert "Erika" not in exported.content.decode("utf-8-sig")
    assert exported.filename == "termine-2031-01-07.csv"


def test_names_and_phones_when_asked_for_and_formulas_are_defused(exporter, world, office):
    rows = _rows(exporter.day(world.admin, TUESDAY, personal=True).content)
    assert rows[0][-2:] == ["name", "phone"]
    assert rows[1][-2:] == ["Erika Mustermann", "0391 123456"]
    assert rows[3][4] == "'=Formel"


def test_an_advisor_exports_only_their_own_day(exporter, office):
    rows = _rows(exporter.day(office["anna"], TUESDAY).content)
    assert [r[0] for r in rows[1:]] == [b.reference for b in office["bookings"][:2]]


def test_a_teams_export_covers_its_services_over_the_range(exporter, world, office):
    rows = _rows(exporter.team(world.admin, office["team"].id, TUESDAY, date(2031, 1, 8)).content)
    bookings = office["bookings"]
    assert [r[0] for r in rows[1:]] == [
        bookings[0].reference,
        bookings[2].reference,
        bookings[3].reference,
    ]


def test_exports_are_audited_and_with_names_on_each_booking(exporter, container, world, office):
    exporter.day(world.admin, TUESDAY)
    exporter.day(world.admin, TUESDAY, personal=True)
    with read_session(container.sessions) as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "appointments_exported")
        ).all()
    general = [e.detail for e in entries if e.booking_id is None]
    assert general == [
        "from=2031-01-07 to=2031-01-07 rows=3 personal=False",
        "from=2031-01-07 to=2031-01-07 rows=3 personal=True",
    ]
    assert sorted(e.booking_id for e in entries if e.booking_id) == sorted(
        b.id for b in office["bookings"][:3]
    )


def test_team_exports_refuse_advisors_unknown_teams_and_bad_ranges(exporter, world, office):
    with pytest.raises(PermissionDenied):
        exporter.team(office["anna"], office["team"].id, TUESDAY, TUESDAY)
    with pytest.raises(NotFound):
        exporter.team(world.admin, 4242, TUESDAY, TUESDAY)
    with pytest.raises(InvalidRequest):
        exporter.team(world.admin, office["team"].id, TUESDAY, date(2031, 1, 6))
    with pytest.raises(RangeTooLong):
        exporter.team(world.admin, office["team"].id, TUESDAY, date(2031, 6, 1))


def test_the_hotline_exports_every_appointment(exporter, world, office):
    hotline = StaffIdentity.of(world.advisor([], role=Role.HOTLINE, email="hotline@example.org"))
    assert len(_rows(exporter.day(hotline, TUESDAY).content)) == 4
