"""Changing what the catalogue created: services, teams and staff accounts edited,
deactivated and activated again. Administrators only; every change is in the audit log.

Nothing is deleted: appointments, statistics and the audit log refer to these rows. A
deactivated service is no longer offered (the slot search reads `Service.active`), and its
appointments already booked take place. A deactivated team is offered nowhere; while active
services still belong to it, it stays. A staff member who leaves goes through the flow of an
absence from now on, with no end (scheduler/displacement.py): each of their appointments to
come goes to a colleague of the same service who is free at that time, or is cancelled with
the citizen first on the waiting list, in the transaction that deactivates the account and
ends its sessions, so nobody keeps an appointment with someone who is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from scheduler.accounts import StaffIdentity, end_all_sessions
from scheduler.catalogue import (
    ServiceSpec,
    _advisors,
    _check_team,
    _retrying,
    _services,
    _staff,
)
from scheduler.db import read_session, write_session
from scheduler.displacement import Displaced, Displacement
from scheduler.errors import Conflict, InvalidRequest, NotFound
from scheduler.models import AuditEntry, Channel, Role, Service, Staff, Team

# An absence without end: the span a departure displaces from.
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


class StillInUse(Conflict):
    """A team with active services, or the last active administrator, cannot go."""

    code = "last_admin"


@dataclass(frozen=True, slots=True)
class StaffChange:
    name: str
    email: str
    role: Role
    service_ids: Sequence[int]
    team_id: int | None = None
    team_lead: bool = False


class CatalogueEdit:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        displacement: Displacement,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._displacement = displacement
        self._clock = clock

    # -- services ------------------------------------------------------------------------------

    def services(self) -> list[Service]:
        """Every service, those deactivated too, with their advisors."""
        with read_session(self._sessions) as session:
            statement = select(Service).options(selectinload(Service.advisors))
            return list(session.scalars(statement.order_by(Service.id)))

    def update_service(self, actor: StaffIdentity, service_id: int, spec: ServiceSpec) -> Service:
        """Appointments already booked keep their times and length; new ones follow `spec`."""
        actor.require(Role.ADMIN)
        channels = list(dict.fromkeys(Channel(c).value for c in spec.channels))
        with write_session(self._sessions) as session:
            service = _service(session, service_id)
            _check_team(session, spec.team_id)
            service.advisors = _advisors(session, spec.advisor_ids)
            for name in (
                "name",
                "description",
                "name_en",
                "description_en",
                "duration_minutes",
                "buffer_minutes",
                "slot_interval_minutes",
                "min_notice_minutes",
                "horizon_days",
                "address",
                "team_id",
            ):
                setattr(service, name, getattr(spec, name))
            service.channels = channels
            self._audit(session, actor, "service_changed", f"service={service_id}")
            session.flush()
            return service

    def set_service_active(self, actor: StaffIdentity, service_id: int, active: bool) -> None:
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            service = _service(session, service_id)
            if service.team_id is not None and active:
                team = session.get(Team, service.team_id)
                if team is not None and not team.active:
                    raise InvalidRequest("team inactive", field="team_id", code="team_inactive")
            service.active = active
            action = "service_activated" if active else "service_deactivated"
            self._audit(session, actor, action, f"service={service_id}")

    # -- teams ---------------------------------------------------------------------------------

    def update_team(self, actor: StaffIdentity, team_id: int, name: str, email: str | None) -> Team:
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            team = _team(session, team_id)
            taken = session.scalar(select(Team.id).where(Team.name == name, Team.id != team_id))
            if taken is not None:
                raise InvalidRequest("team exists", field="name", code="name_taken")
            team.name, team.email = name, email
            self._audit(session, actor, "team_changed", f"team={team_id}")
            session.flush()
            return team

    def set_team_active(self, actor: StaffIdentity, team_id: int, active: bool) -> None:
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            team = _team(session, team_id)
            if not active:
                names = session.scalars(
                    select(Service.name)
                    .where(Service.team_id == team_id, Service.active)
                    .order_by(Service.name)
                ).all()
                if names:
                    raise StillInUse(
                        "team has active services",
                        code="team_has_services",
                        services=", ".join(names),
                    )
            team.active = active
            action = "team_activated" if active else "team_deactivated"
            self._audit(session, actor, action, f"team={team_id}")

    # -- staff ---------------------------------------------------------------------------------

    def update_staff(self, actor: StaffIdentity, staff_id: int, change: StaffChange) -> Staff:
        actor.require(Role.ADMIN)
        email = change.email.strip().lower()
        with write_session(self._sessions) as session:
            staff = _staff(session, staff_id)
            _check_team(session, change.team_id)
            taken = session.scalar(
                select(Staff.id).where(func.lower(Staff.email) == email, Staff.id != staff_id)
            )
            if taken is not None:
                raise InvalidRequest("email taken", field="email", code="email_taken")
            if staff.role == Role.ADMIN and change.role != Role.ADMIN:
                _keep_an_admin(session, staff_id)
            staff.name, staff.email, staff.role = change.name, email, change.role.value
            staff.team_id = change.team_id
            staff.team_lead = change.team_lead and change.team_id is not None
            staff.services = _services(session, change.service_ids)
            self._audit(session, actor, "staff_changed", f"staff={staff_id}")
            session.flush()
            return staff

    def preview_departure(self, actor: StaffIdentity, staff_id: int) -> Displaced:
        """Where each appointment of the staff member goes if they are deactivated now."""
        actor.require(Role.ADMIN)
        return self._displacement.preview_absence(staff_id, self._clock(), FOREVER)

    def deactivate_staff(
        self, actor: StaffIdentity, staff_id: int, expected: frozenset[int] | None = None
    ) -> Displaced:
        """Deactivate the account, end its sessions and move or cancel its appointments to
        come, all at once; with `expected` (the booking ids a preview showed) raise
        `AffectedChanged` instead when they differ."""
        actor.require(Role.ADMIN)
        if staff_id == actor.id:
            raise InvalidRequest("not yourself", field="staff_id", code="not_yourself")
        displacement = self._displacement

        def write(session: Session) -> Displaced:
            displacement.lock(session)
            staff = _staff(session, staff_id)
            if staff.role == Role.ADMIN:
                _keep_an_admin(session, staff_id)
            staff.active = False
            session.flush()
            now = self._clock()
            moved = displacement.absence_added(session, staff_id, now, FOREVER, actor.id, expected)
            end_all_sessions(session, staff_id)
            detail = f"staff={staff_id} moved={len(moved.moved)} cancelled={len(moved.cancelled)}"
            self._audit(session, actor, "staff_deactivated", detail)
            return moved

        return _retrying(self._sessions, write)

    def activate_staff(self, actor: StaffIdentity, staff_id: int) -> None:
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            _staff(session, staff_id).active = True
            self._audit(session, actor, "staff_activated", f"staff={staff_id}")

    def _audit(self, session: Session, actor: StaffIdentity, action: str, detail: str) -> None:
        session.add(AuditEntry(at=self._clock(), actor_id=actor.id, action=action, detail=detail))


def _service(session: Session, service_id: int) -> Service:
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound("unknown service", field="service_id")
    return service


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound("unknown team", field="team_id")
    return team


def _keep_an_admin(session: Session, leaving: int) -> None:
    others = session.scalar(
        select(func.count())
        .select_from(Staff)
        .where(Staff.role == Role.ADMIN.value, Staff.active, Staff.id != leaving)
    )
    if not others:
        raise StillInUse("the last administrator", code="last_admin", field="role")
