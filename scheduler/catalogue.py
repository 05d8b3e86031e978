"""What is offered: services, teams, advisors with their weekly hours and absences, closures.

Each function checks the actor's role first; an advisor may change only their own hours and
absences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from scheduler.accounts import Accounts, StaffIdentity
from scheduler.db import conflict_kind, read_session, write_session
from scheduler.displacement import CAUSE_CLOSURE, Displaced, Displacement
from scheduler.errors import Busy, InvalidRequest, NotFound, PermissionDenied
from scheduler.models import Absence, Channel, ClosureDay, Role, Service, Staff, Team, WeeklyHours


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    duration_minutes: int
    channels: Sequence[str]
    buffer_minutes: int = 0
    min_notice_minutes: int = 120
    horizon_days: int = 60
    slot_interval_minutes: int | None = None
    description: str = ""
    address: str | None = None
    team_id: int | None = None
    name_en: str | None = None
    description_en: str = ""
    advisor_ids: Sequence[int] = ()


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AdvisorSpec:
    name: str
    email: str
    service_ids: Sequence[int]
    role: Role = Role.ADVISOR
    password: str | None = None
    team_id: int | None = None


@dataclass(frozen=True, slots=True)
class HoursSpec:
    weekday: int
    start: time
    end: time


class Catalogue:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        accounts: Accounts,
        displacement: Displacement | None = None,
    ) -> None:
        self._sessions = sessions
        self._accounts = accounts
        # Moves or cancels the appointments an absence or closure day hits; None leaves them.
        self._displacement = displacement

    def create_team(self, actor: StaffIdentity, name: str, email: str | None) -> Team:
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            if session.scalar(select(Team.id).where(Team.name == name)) is not None:
                raise InvalidRequest("team exists", field="name", code="name_taken")
            team = Team(name=name, email=email)
            session.add(team)
            session.flush()
            return team

    def teams(self) -> list[Team]:
        with read_session(self._sessions) as session:
            return list(session.scalars(select(Team).order_by(Team.id)))

    def create_service(self, actor: StaffIdentity, spec: ServiceSpec) -> Service:
        actor.require(Role.ADMIN)
        channels = list(dict.fromkeys(Channel(c).value for c in spec.channels))
        with write_session(self._sessions) as session:
            _check_team(session, spec.team_id)
            advisors = _advisors(session, spec.advisor_ids)
            service = Service(
                name=spec.name,
                description=spec.description,
                name_en=spec.name_en,
                description_en=spec.description_en,
                duration_minutes=spec.duration_minutes,
                buffer_minutes=spec.buffer_minutes,
                slot_interval_minutes=spec.slot_interval_minutes,
                min_notice_minutes=spec.min_notice_minutes,
                horizon_days=spec.horizon_days,
                channels=channels,
                address=spec.address,
                team_id=spec.team_id,
                advisors=advisors,
            )
            session.add(service)
            session.flush()
            return service

    def create_advisor(self, actor: StaffIdentity, spec: AdvisorSpec) -> tuple[Staff, list[int]]:
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            _check_team(session, spec.team_id)
            services = _services(session, spec.service_ids)
            staff = self._accounts.create(
                session,
                email=spec.email,
                name=spec.name,
                role=spec.role,
                password=spec.password,
            )
            staff.team_id = spec.team_id
            staff.services = services
            session.flush()
            return staff, [s.id for s in services]

    def advisors(self, actor: StaffIdentity) -> list[tuple[Staff, list[int]]]:
        actor.require(Role.ADMIN, Role.HOTLINE, Role.ADVISOR)
        with read_session(self._sessions) as session:
            staff = session.scalars(select(Staff).order_by(Staff.id)).all()
            return [(s, [svc.id for svc in s.services]) for s in staff]

    def set_weekly_hours(
        self, actor: StaffIdentity, staff_id: int, hours: Sequence[HoursSpec]
    ) -> list[WeeklyHours]:
        """Replace the advisor's whole week; intervals of one day must not overlap."""
        _require_self_or_admin(actor, staff_id)
        _check_no_overlap(hours)
        with write_session(self._sessions) as session:
            _staff(session, staff_id)
            session.execute(delete(WeeklyHours).where(WeeklyHours.staff_id == staff_id))
            rows = [
                WeeklyHours(
                    staff_id=staff_id,
                    weekday=h.weekday,
                    start=h.start.strftime("%H:%M"),
                    end=h.end.strftime("%H:%M"),
                )
                for h in sorted(hours, key=lambda h: (h.weekday, h.start))
            ]
            session.add_all(rows)
            session.flush()
            return rows

    def weekly_hours(self, actor: StaffIdentity, staff_id: int) -> list[WeeklyHours]:
        actor.require(Role.ADMIN, Role.HOTLINE, Role.ADVISOR)
        with read_session(self._sessions) as session:
            _staff(session, staff_id)
            return list(
                session.scalars(
                    select(WeeklyHours)
                    .where(WeeklyHours.staff_id == staff_id)
                    .order_by(WeeklyHours.weekday, WeeklyHours.start)
                )
            )

    def add_absence(
        self, actor: StaffIdentity, staff_id: int, start: datetime, end: datetime, reason: str = ""
    ) -> Absence:
        return self.enter_absence(actor, staff_id, start, end, reason)[0]

    def enter_absence(
        self,
        actor: StaffIdentity,
        staff_id: int,
        start: datetime,
        end: datetime,
        reason: str = "",
        expected: frozenset[int] | None = None,
    ) -> tuple[Absence, Displaced]:
        """Add the absence and, in the same transaction, move the appointments it hits to
        colleagues or cancel them (scheduler/displacement.py). With `expected` (the booking
        ids a preview showed) raise `AffectedChanged` instead when they differ."""
        _require_self_or_admin(actor, staff_id)
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidRequest("time without offset", field="start", code="naive_time")
        if end <= start:
            raise InvalidRequest("end before start", field="end", code="range_reversed")
        # Whole seconds, rounded outwards: the slot search reads them as POSIX seconds.
        start = start.replace(microsecond=0)
        end = end if not end.microsecond else end.replace(microsecond=0) + timedelta(seconds=1)
        displacement = self._displacement

        def write(session: Session) -> tuple[Absence, Displaced]:
            if displacement is not None:
                displacement.lock(session)
            _staff(session, staff_id)
            absence = Absence(staff_id=staff_id, start_at=start, end_at=end, reason=reason)
            session.add(absence)
            session.flush()
            if displacement is None:
                return absence, Displaced()
            moved = displacement.absence_added(session, staff_id, start, end, actor.id, expected)
            return absence, moved

        return _retrying(self._sessions, write)

    def absences(self, actor: StaffIdentity, staff_id: int) -> list[Absence]:
        _require_self_or_admin(actor, staff_id)
        with read_session(self._sessions) as session:
            _staff(session, staff_id)
            return list(
                session.scalars(
                    select(Absence).where(Absence.staff_id == staff_id).order_by(Absence.start_at)
                )
            )

    def remove_absence(self, actor: StaffIdentity, staff_id: int, absence_id: int) -> None:
        _require_self_or_admin(actor, staff_id)
        with write_session(self._sessions) as session:
            absence = session.get(Absence, absence_id)
            if absence is None or absence.staff_id != staff_id:
                raise NotFound("unknown absence", field="absence_id")
            session.delete(absence)

    def add_closure(self, actor: StaffIdentity, day: date, name: str) -> ClosureDay:
        return self.enter_closure(actor, day, name)[0]

    def enter_closure(
        self, actor: StaffIdentity, day: date, name: str, expected: frozenset[int] | None = None
    ) -> tuple[ClosureDay, Displaced]:
        """Close the office on `day` and cancel every appointment that day, with an apology
        (scheduler/displacement.py); `expected` as for `enter_absence`."""
        actor.require(Role.ADMIN)
        displacement = self._displacement

        def write(session: Session) -> tuple[ClosureDay, Displaced]:
            if displacement is not None:
                displacement.lock(session)
            if session.scalar(select(ClosureDay.id).where(ClosureDay.day == day)) is not None:
                raise InvalidRequest("already closed", field="day", code="closure_exists")
            closure = ClosureDay(day=day, name=name)
            session.add(closure)
            session.flush()
            if displacement is None:
                return closure, Displaced(CAUSE_CLOSURE)
            return closure, displacement.closure_added(session, day, actor.id, expected)

        return _retrying(self._sessions, write)

    def closures(self) -> list[ClosureDay]:
        with read_session(self._sessions) as session:
            return list(session.scalars(select(ClosureDay).order_by(ClosureDay.day)))


def _retrying(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run `work` in a write session, again when PostgreSQL broke a deadlock with a
    placement that held a booking row (or refused an overlap): bounded, then `Busy`."""
    for _ in range(5):
        try:
            with write_session(sessions) as session:
                return work(session)
        except DBAPIError as exc:
            if conflict_kind(exc) not in ("deadlock", "overlap"):
                raise
    raise Busy()


def _require_self_or_admin(actor: StaffIdentity, staff_id: int) -> None:
    if actor.role != Role.ADMIN and actor.id != staff_id:
        raise PermissionDenied(role=actor.role.value)


def _staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound("unknown advisor", field="advisor_id")
    return staff


def _services(session: Session, ids: Sequence[int]) -> list[Service]:
    services = list(session.scalars(select(Service).where(Service.id.in_(ids))))
    if len(services) != len(set(ids)):
        raise NotFound("unknown service", field="service_ids")
    return services


def _advisors(session: Session, ids: Sequence[int]) -> list[Staff]:
    staff = list(session.scalars(select(Staff).where(Staff.id.in_(ids)).order_by(Staff.id)))
    if len(staff) != len(set(ids)):
        raise NotFound("unknown advisor", field="advisor_ids")
    return staff


def _check_team(session: Session, team_id: int | None) -> None:
    if team_id is not None and session.get(Team, team_id) is None:
        raise NotFound("unknown team", field="team_id")


def hours_problems(hours: Sequence[HoursSpec]) -> list[tuple[HoursSpec, str]]:
    """Each interval that ends before it starts ("range_reversed") or starts before the one
    before it on its day ends ("hours_overlap"), so that a form can mark every faulty row."""
    ordered = sorted(hours, key=lambda h: (h.weekday, h.start))
    problems = [(hour, "range_reversed") for hour in ordered if hour.start >= hour.end]
    problems += [
        (after, "hours_overlap")
        for before, after in pairwise(ordered)
        if before.weekday == after.weekday and after.start < before.end
    ]
    return problems


def _check_no_overlap(hours: Sequence[HoursSpec]) -> None:
    for _, code in hours_problems(hours):
        if code == "range_reversed":
            raise InvalidRequest("start after end", field="end", code=code)
        raise InvalidRequest("overlapping hours", field="start", code=code)
