"""The catalogue: who may change what, and which hours and absences are accepted."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from scheduler.accounts import StaffIdentity
from scheduler.catalogue import AdvisorSpec, HoursSpec, ServiceSpec
from scheduler.errors import InvalidRequest, NotFound, PermissionDenied
from scheduler.models import Role

BERLIN = ZoneInfo("Europe/Berlin")
MORNING = [HoursSpec(0, time(9), time(12))]


@pytest.fixture
def advisor(world) -> StaffIdentity:
    return StaffIdentity.of(world.advisor([world.service()], password=None))


@pytest.fixture
def hotline(world) -> StaffIdentity:
    return StaffIdentity.of(world.advisor([], role=Role.HOTLINE, password=None))


def spec(**overrides: object) -> ServiceSpec:
    values: dict[str, object] = {"name": "Beratung", "duration_minutes": 30, "channels": ["video"]}
    values.update(overrides)
    return ServiceSpec(**values)  # type: ignore[arg-type]


def error_code(excinfo: pytest.ExceptionInfo[InvalidRequest]) -> str:
    return excinfo.value.code


# -- roles ---------------------------------------------------------------------------------


def test_an_admin_creates_services(container, world):
    service = container.catalogue.create_service(world.admin, spec(channels=["video", "video"]))
    assert service.id
    assert service.channels == ["video"]
    assert [s.id for s in container.scheduler.services()] == [service.id]


def test_an_advisor_cannot_create_services(container, advisor):
    with pytest.raises(PermissionDenied):
        container.catalogue.create_service(advisor, spec())


def test_hotline_staff_cannot_create_services(container, hotline):
    with pytest.raises(PermissionDenied):
        container.catalogue.create_service(hotline, spec())


def test_an_advisor_cannot_create_advisors_teams_or_closures(container, advisor):
    with pytest.raises(PermissionDenied):
        container.catalogue.create_advisor(
            advisor, AdvisorSpec(name="X", email="x@example.org", service_ids=[])
        )
    with pytest.raises(PermissionDenied):
        container.catalogue.create_team(advisor, "Team", None)
    with pytest.raises(PermissionDenied):
        container.catalogue.add_closure(advisor, date(2031, 1, 8), "Ausflug")


def test_an_advisor_sets_their_own_hours(container, advisor):
    rows = container.catalogue.set_weekly_hours(advisor, advisor.id, MORNING)
    assert [(r.weekday, r.start, r.end) for r in rows] == [(0, "09:00", "12:00")]
    stored = container.catalogue.weekly_hours(advisor, advisor.id)
    assert [(r.weekday, r.start, r.end) for r in stored] == [(0, "09:00", "12:00")]


def test_an_advisor_cannot_set_another_advisors_hours(container, world, advisor):
    other = world.advisor([], password=None)
    before = container.catalogue.weekly_hours(world.admin, other.id)
    with pytest.raises(PermissionDenied):
        container.catalogue.set_weekly_hours(advisor, other.id, MORNING)
    after = container.catalogue.weekly_hours(world.admin, other.id)
    assert [(r.weekday, r.start) for r in after] == [(r.weekday, r.start) for r in before]


def test_an_admin_sets_anyones_hours(container, world, advisor):
    container.catalogue.set_weekly_hours(world.admin, advisor.id, MORNING)
    assert len(container.catalogue.weekly_hours(world.admin, advisor.id)) == 1


def test_hours_for_an_unknown_advisor_are_not_found(container, world):
    with pytest.raises(NotFound):
        container.catalogue.set_weekly_hours(world.admin, 9999, MORNING)


def test_an_advisor_cannot_add_absences_for_another(container, world, advisor):
    other = world.advisor([], password=None)
    with pytest.raises(PermissionDenied):
        container.catalogue.add_absence(
            advisor,
            other.id,
            datetime(2031, 1, 7, 9, tzinfo=BERLIN),
            datetime(2031, 1, 7, 10, tzinfo=BERLIN),
        )


def test_an_advisor_cannot_read_anothers_absences(container, world, advisor):
    other = world.advisor([], password=None)
    with pytest.raises(PermissionDenied):
        container.catalogue.absences(advisor, other.id)


# -- weekly hours --------------------------------------------------------------------------


def test_overlapping_hours_on_one_day_are_refused(container, world, advisor):
    hours = [HoursSpec(1, time(9), time(12)), HoursSpec(1, time(11), time(14))]
    with pytest.raises(InvalidRequest) as raised:
        container.catalogue.set_weekly_hours(world.admin, advisor.id, hours)
    assert error_code(raised) == "hours_overlap"


def test_refused_hours_leave_the_old_week_in_place(container, world, advisor):
    hours = [HoursSpec(1, time(9), time(12)), HoursSpec(1, time(9), time(10))]
    with pytest.raises(InvalidRequest):
        container.catalogue.set_weekly_hours(world.admin, advisor.id, hours)
    assert len(container.catalogue.weekly_hours(world.admin, advisor.id)) == 10


def test_touching_hours_are_allowed(container, world, advisor):
    hours = [HoursSpec(1, time(12), time(13)), HoursSpec(1, time(9), time(12))]
    rows = container.catalogue.set_weekly_hours(world.admin, advisor.id, hours)
    assert [(r.start, r.end) for r in rows] == [("09:00", "12:00"), ("12:00", "13:00")]


def test_the_same_hours_on_different_days_are_allowed(container, world, advisor):
    hours = [HoursSpec(day, time(9), time(12)) for day in range(7)]
    assert len(container.catalogue.set_weekly_hours(world.admin, advisor.id, hours)) == 7


@pytest.mark.parametrize(("start", "end"), [(time(12), time(9)), (time(9), time(9))])
def test_hours_must_end_after_they_start(container, world, advisor, start, end):
    with pytest.raises(InvalidRequest) as raised:
        container.catalogue.set_weekly_hours(world.admin, advisor.id, [HoursSpec(2, start, end)])
    assert error_code(raised) == "range_reversed"


def test_setting_hours_replaces_the_whole_week(container, world, advisor):
    container.catalogue.set_weekly_hours(world.admin, advisor.id, MORNING)
    container.catalogue.set_weekly_hours(world.admin, advisor.id, [])
    assert container.catalogue.weekly_hours(world.admin, advisor.id) == []


# -- absences ------------------------------------------------------------------------------


def test_an_advisor_adds_and_removes_their_own_absence(container, advisor):
    start = datetime(2031, 1, 7, 9, tzinfo=BERLIN)
    end = datetime(2031, 1, 7, 12, tzinfo=BERLIN)
    absence = container.catalogue.add_absence(advisor, advisor.id, start, end, "Fortbildung")
    listed = container.catalogue.absences(advisor, advisor.id)
    assert [(a.start_at, a.end_at, a.reason) for a in listed] == [(start, end, "Fortbildung")]
    assert listed[0].start_at.tzinfo == UTC
    container.catalogue.remove_absence(advisor, advisor.id, absence.id)
    assert container.catalogue.absences(advisor, advisor.id) == []


def test_an_absence_needs_an_offset(container, advisor):
    with pytest.raises(InvalidRequest) as raised:
        container.catalogue.add_absence(
            advisor, advisor.id, datetime(2031, 1, 7, 9), datetime(2031, 1, 7, 10)
        )
    assert error_code(raised) == "naive_time"


@pytest.mark.parametrize("hours", [0, -1])
def test_an_absence_must_end_after_it_starts(container, advisor, hours):
    start = datetime(2031, 1, 7, 9, tzinfo=BERLIN)
    end = datetime(2031, 1, 7, 9 + hours, tzinfo=BERLIN)
    with pytest.raises(InvalidRequest) as raised:
        container.catalogue.add_absence(advisor, advisor.id, start, end)
    assert error_code(raised) == "range_reversed"


def test_an_absence_for_an_unknown_advisor_is_not_found(container, world):
    start = datetime(2031, 1, 7, 9, tzinfo=BERLIN)
    with pytest.raises(NotFound):
        container.catalogue.add_absence(world.admin, 9999, start, start.replace(hour=10))


def test_removing_another_advisors_absence_is_not_found(container, world, advisor):
    other = world.advisor([], password=None)
    start = datetime(2031, 1, 7, 9, tzinfo=BERLIN)
    absence = container.catalogue.add_absence(world.admin, other.id, start, start.replace(hour=10))
    with pytest.raises(NotFound):
        container.catalogue.remove_absence(world.admin, advisor.id, absence.id)
    assert len(container.catalogue.absences(world.admin, other.id)) == 1


# -- teams, advisors, closures -------------------------------------------------------------


def test_team_names_are_unique(container, world):
    container.catalogue.create_team(world.admin, "Wohngeld", None)
    with pytest.raises(InvalidRequest) as raised:
        container.catalogue.create_team(world.admin, "Wohngeld", "w@example.org")
    assert error_code(raised) == "name_taken"


def test_a_service_for_an_unknown_team_is_not_found(container, world):
    with pytest.raises(NotFound):
        container.catalogue.create_service(world.admin, spec(team_id=9999))


def test_an_advisor_for_an_unknown_service_is_not_found(container, world):
    with pytest.raises(NotFound):
        container.catalogue.create_advisor(
            world.admin, AdvisorSpec(name="X", email="x@example.org", service_ids=[9999])
        )


def test_an_advisor_is_linked_to_their_services(container, world):
    one, two = world.service(), world.service(name="Zweite")
    team = container.catalogue.create_team(world.admin, "Team", None)
    staff, service_ids = container.catalogue.create_advisor(
        world.admin,
        AdvisorSpec(name="X", email="x@example.org", service_ids=[two.id, one.id], team_id=team.id),
    )
    assert sorted(service_ids) == [one.id, two.id]
    listed = {s.id: ids for s, ids in container.catalogue.advisors(world.admin)}
    assert sorted(listed[staff.id]) == [one.id, two.id]


def test_a_closure_day_is_added_once(container, world):
    container.catalogue.add_closure(world.admin, date(2031, 1, 8), "Betriebsausflug")
    with pytest.raises(InvalidRequest) as raised:
        container.catalogue.add_closure(world.admin, date(2031, 1, 8), "Noch einmal")
    assert error_code(raised) == "closure_exists"
    assert [c.day for c in container.catalogue.closures()] == [date(2031, 1, 8)]
