"""Import of staff accounts from CSV (scheduler/advisor_import.py): the dry run names every bad
line with its column and reason, and a file with a single bad line changes nothing at all."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import func, select

from scheduler.accounts import StaffIdentity
from scheduler.advisor_import import MAX_LINES, AdvisorImport, ImportRefused, Problem
from scheduler.catalogue import HoursSpec
from scheduler.db import read_session
from scheduler.errors import PermissionDenied
from scheduler.models import AuditEntry, Role, Staff, WeeklyHours, staff_services

HEADER = "email;name;role;services;monday;tuesday;wednesday;thursday;friday;saturday;sunday"
GOOD = (
    "anna@example.org;Anna Beispiel;advisor;Wohngeld|Grundsicherung;08:00-12:00 13:00-16:00;;;;;;"
)


@pytest.fixture
def importer(container):
    return AdvisorImport(container.sessions, container.accounts, container.scheduler.clock)


@pytest.fixture
def offered(world):
    return world.service(name="Wohngeld"), world.service(name="Grundsicherung")


def _file(*lines: str, header: str = HEADER, bom: bool = False) -> bytes:
    text = "\r\n".join((header, *lines)) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8")


def _counts(container) -> tuple[int, int, int]:
    with read_session(container.sessions) as session:
        return (
            session.scalar(select(func.count()).select_from(Staff)),
            session.scalar(select(func.count()).select_from(WeeklyHours)),
            session.scalar(select(func.count()).select_from(staff_services)),
        )


def test_a_clean_file_with_bom_imports_accounts_hours_and_services(
    importer, container, world, offered
):
    data = _file(GOOD, "bernd@example.org;Bernd Muster;hotline;;;;;;;;", bom=True)
    checked = importer.check(world.admin, data)
    assert checked.clean
    assert len(checked.rows) == 2

    assert importer.run(world.admin, data) == 2

    people = {s.email: (s, ids) for s, ids in container.catalogue.advisors(world.admin)}
    anna, service_ids = people["anna@example.org"]
    assert anna.name == "Anna Beispiel"
    assert anna.role == Role.ADVISOR
    assert anna.password_hash is None  # set by the person through the reset link
    assert sorted(service_ids) == sorted(s.id for s in offered)
    hours = container.catalogue.weekly_hours(world.admin, anna.id)
    assert [(h.weekday, h.start, h.end) for h in hours] == [
        (0, "08:00", "12:00"),
        (0, "13:00", "16:00"),
    ]
    assert people["bernd@example.org"][0].role == Role.HOTLINE
    with read_session(container.sessions) as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff_imported")
        ).one()
    assert (entry.actor_id, entry.detail) == (world.admin.id, "accounts=2")


def test_comma_separated_files_and_service_numbers_are_read(importer, world, offered):
    header = HEADER.replace(";", ",")
    data = _file(f"anna@example.org,Anna,,{offered[0].id},,09:00-12:00,,,,,", header=header)
    checked = importer.check(world.admin, data)
    assert checked.clean
    assert checked.rows[0].service_ids == (offered[0].id,)
    assert checked.rows[0].hours == (HoursSpec(1, time(9), time(12)),)
    assert checked.rows[0].role == Role.ADVISOR


@pytest.mark.parametrize(
    ("line", "column", "code"),
    [
        ("anna@example.org;Anna;advisor;Kindergeld;;;;;;;", "services", "import_unknown_service"),
        ("anna@example.org;Anna;advisor;;8-12;;;;;;", "monday", "import_bad_time"),
        ("anna@example.org;Anna;advisor;;;25:00-26:00;;;;;", "tuesday", "import_bad_time"),
        ("anna@example.org;Anna;advisor;;;;12:00-08:00;;;;", "wednesday", "import_bad_time"),
        (
            "anna@example.org;Anna;advisor;;;;;08:00-12:00 11:00-13:00;;;",
            "thursday",
            "import_hours_overlap",
        ),
        ("admin@example.org;Anna;advisor;;;;;;;;", "email", "import_email_taken"),
        ("anna(at)example.org;Anna;advisor;;;;;;;;", "email", "import_bad_email"),
        ("anna@example.org;;advisor;;;;;;;;", "name", "import_missing_name"),
        ("anna@example.org;Anna;chef;;;;;;;;", "role", "import_bad_role"),
        ("anna@example.org;Anna;advisor;;;;", "", "import_wrong_column_count"),
    ],
)
def test_each_bad_line_is_named_with_its_column_and_reason(
    importer, container, world, offered, line, column, code
):
    before = _counts(container)
    checked = importer.check(world.admin, _file(line))
    assert checked.problems == (Problem(2, column, code),)
    with pytest.raises(ImportRefused):
        importer.run(world.admin, _file(line))
    assert _counts(container) == before


def test_an_address_twice_in_the_file_is_named_on_its_second_line(importer, world, offered):
    checked = importer.check(world.admin, _file(GOOD, GOOD.replace("Anna B", "ANNA B").upper()))
    assert checked.problems == (Problem(3, "email", "import_duplicate_email"),)


def test_every_bad_line_is_reported_not_only_the_first(importer, world, offered):
    data = _file(
        "x;Anna;advisor;;;;;;;;",
        GOOD,
        "bernd@example.org;;boss;Kindergeld;nine;;;;;;",
    )
    codes = [(p.line, p.column, p.code) for p in importer.check(world.admin, data).problems]
    assert codes == [
        (2, "email", "import_bad_email"),
        (4, "name", "import_missing_name"),
        (4, "role", "import_bad_role"),
        (4, "services", "import_unknown_service"),
        (4, "monday", "import_bad_time"),
    ]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (_file(GOOD, header="mail;name"), Problem(1, "", "import_wrong_header")),
        (_file(GOOD, header=HEADER + ";notes"), Problem(1, "", "import_wrong_header")),
        (b"", Problem(1, "", "import_wrong_header")),
        (_file(), Problem(0, "", "import_no_lines")),
        (_file('a@example.org;"' + "x" * 200_000 + '"'), Problem(0, "", "import_not_csv")),
        (
            _file(GOOD).decode().encode("cp1252") + "ä".encode("cp1252"),
            Problem(0, "", "import_not_utf8"),
        ),
        (
            _file(*(GOOD.replace("anna", f"a{n}") for n in range(MAX_LINES + 1))),
            Problem(0, "", "import_too_many_lines"),
        ),
    ],
)
def test_a_file_that_is_no_staff_list_is_refused_as_a_whole(importer, world, data, problem):
    assert importer.check(world.admin, data).problems == (problem,)


def test_one_bad_line_among_good_ones_changes_nothing(importer, container, world, offered):
    lines = [GOOD.replace("anna", f"person{n}") for n in range(20)]
    lines[13] = lines[13].replace("08:00-12:00", "08:00-12:60")
    data = _file(*lines)
    before = _counts(container)
    checked = importer.check(world.admin, data)
    assert checked.problems == (Problem(15, "monday", "import_bad_time"),)
    assert len(checked.rows) == 19

    with pytest.raises(ImportRefused):
        importer.run(world.admin, data)

    assert _counts(container) == before
    with read_session(container.sessions) as session:
        assert session.scalar(select(Staff.id).where(Staff.email.like("person%"))) is None


def test_an_address_taken_between_dry_run_and_import_refuses_the_whole_file(
    importer, container, world, offered
):
    data = _file(GOOD, GOOD.replace("anna", "bernd"))
    assert importer.check(world.admin, data).clean
    world.advisor([], email="bernd@example.org")
    before = _counts(container)
    with pytest.raises(ImportRefused):
        importer.run(world.admin, data)
    assert _counts(container) == before


@pytest.mark.parametrize("role", [Role.ADVISOR, Role.HOTLINE])
def test_only_administrators_import(importer, world, offered, role):
    other = StaffIdentity.of(world.advisor([], role=role, email=f"{role}@example.org"))
    with pytest.raises(PermissionDenied):
        importer.check(other, _file(GOOD))
    with pytest.raises(PermissionDenied):
        importer.run(other, _file(GOOD))
