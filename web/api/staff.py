"""The staff API: login, services, advisors with hours and absences, and bookings (audited)."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Response

from scheduler.catalogue import AdvisorSpec, HoursSpec, ServiceSpec
from scheduler.displacement import Displaced
from scheduler.errors import InvalidRequest
from scheduler.models import Role, Staff
from web.api.idempotency import REPLAYED, IdempotencyKey, idempotency
from web.deps import Actor, Services, Token, client_address
from web.lanes import in_booking_lane
from web.presenters import local, staff_booking_out, staff_booking_request
from web.schemas import (
    AbsenceIn,
    AbsenceOut,
    AdvisorIn,
    AdvisorOut,
    AuditOut,
    ClosureIn,
    ClosureOut,
    CredentialsIn,
    DisplacedOut,
    IsoDate,
    OutcomeIn,
    RescheduleIn,
    ServiceIn,
    ServiceOut,
    StaffBookingIn,
    StaffBookingOut,
    TeamIn,
    TeamOut,
    TokenOut,
    WeeklyHoursIn,
)

router = APIRouter(prefix="/api/v1", tags=["staff"])
Address = Annotated[str, Depends(client_address)]


def _advisor_out(staff: Staff, service_ids: list[int]) -> AdvisorOut:
    return AdvisorOut(
        id=staff.id,
        name=staff.name,
        email=staff.email,
        service_ids=service_ids,
        role=Role(staff.role),
        team_id=staff.team_id,
    )


@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
def login(body: CredentialsIn, services: Services, address: Address) -> TokenOut:
    token = services.accounts.login(body.email, body.password, address, body.totp)
    return TokenOut(access_token=token, expires_in=12 * 3600)


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(token: Token, actor: Actor, services: Services) -> Response:
    """End the session of the bearer token at once; other sessions of the account stay."""
    services.accounts.logout(token)
    return Response(status_code=204)


@router.get("/me", response_model=AdvisorOut, tags=["auth"])
def me(actor: Actor) -> AdvisorOut:
    return AdvisorOut(
        id=actor.id,
        name=actor.name,
        email=actor.email,
        service_ids=[],
        role=actor.role,
        team_id=actor.team_id,
    )


@router.post("/services", response_model=ServiceOut, status_code=201)
def create_service(body: ServiceIn, actor: Actor, services: Services) -> ServiceOut:
    spec = ServiceSpec(
        **body.model_dump(exclude={"channels"}), channels=[c.value for c in body.channels]
    )
    service = services.catalogue.create_service(actor, spec)
    return ServiceOut.model_validate(service, from_attributes=True)


@router.get("/teams", response_model=list[TeamOut])
def list_teams(actor: Actor, services: Services) -> list[TeamOut]:
    return [TeamOut.model_validate(t, from_attributes=True) for t in services.catalogue.teams()]


@router.post("/teams", response_model=TeamOut, status_code=201)
def create_team(body: TeamIn, actor: Actor, services: Services) -> TeamOut:
    team = services.catalogue.create_team(actor, body.name, str(body.email) if body.email else None)
    return TeamOut.model_validate(team, from_attributes=True)


@router.post("/advisors", response_model=AdvisorOut, status_code=201)
def create_advisor(body: AdvisorIn, actor: Actor, services: Services) -> AdvisorOut:
    staff, service_ids = services.catalogue.create_advisor(
        actor,
        AdvisorSpec(
            name=body.name,
            email=str(body.email),
            service_ids=body.service_ids,
            role=body.role,
            password=body.password,
            team_id=body.team_id,
        ),
    )
    return _advisor_out(staff, service_ids)


@router.get("/advisors", response_model=list[AdvisorOut])
def list_advisors(actor: Actor, services: Services) -> list[AdvisorOut]:
    return [_advisor_out(s, ids) for s, ids in services.catalogue.advisors(actor)]


@router.delete("/advisors/{advisor_id}/sessions", status_code=204)
def end_sessions(advisor_id: int, actor: Actor, services: Services) -> Response:
    """Admin: end every session of the account (a lost laptop, a shared password)."""
    services.accounts.end_sessions(actor, advisor_id)
    return Response(status_code=204)


@router.post("/advisors/{advisor_id}/deactivate", status_code=204)
def deactivate(advisor_id: int, actor: Actor, services: Services) -> Response:
    """Admin: the account can no longer log in, and its sessions end at once."""
    services.accounts.set_active(actor, advisor_id, False)
    return Response(status_code=204)


@router.put("/advisors/{advisor_id}/weekly-hours", response_model=list[WeeklyHoursIn])
def set_weekly_hours(
    advisor_id: int,
    body: Annotated[list[WeeklyHoursIn], Body(max_length=70)],
    actor: Actor,
    services: Services,
) -> list[WeeklyHoursIn]:
    rows = services.catalogue.set_weekly_hours(
        actor,
        advisor_id,
        [
            HoursSpec(h.weekday, time.fromisoformat(h.start), time.fromisoformat(h.end))
            for h in body
        ],
    )
    return [WeeklyHoursIn(weekday=r.weekday, start=r.start, end=r.end) for r in rows]


@router.get("/advisors/{advisor_id}/weekly-hours", response_model=list[WeeklyHoursIn])
def get_weekly_hours(advisor_id: int, actor: Actor, services: Services) -> list[WeeklyHoursIn]:
    rows = services.catalogue.weekly_hours(actor, advisor_id)
    return [WeeklyHoursIn(weekday=r.weekday, start=r.start, end=r.end) for r in rows]


@router.post("/advisors/{advisor_id}/absences", response_model=AbsenceOut, status_code=201)
def add_absence(advisor_id: int, body: AbsenceIn, actor: Actor, services: Services) -> AbsenceOut:
    absence, displaced = services.catalogue.enter_absence(
        actor, advisor_id, body.start, body.end, body.reason
    )
    tz = services.scheduler.tz
    return AbsenceOut(
        id=absence.id,
        start=local(absence.start_at, tz),
        end=local(absence.end_at, tz),
        reason=absence.reason,
        displaced=_displaced(displaced, tz),
    )


@router.get("/advisors/{advisor_id}/absences", response_model=list[AbsenceOut])
def list_absences(advisor_id: int, actor: Actor, services: Services) -> list[AbsenceOut]:
    tz = services.scheduler.tz
    return [
        AbsenceOut(id=a.id, start=local(a.start_at, tz), end=local(a.end_at, tz), reason=a.reason)
        for a in services.catalogue.absences(actor, advisor_id)
    ]


@router.delete("/advisors/{advisor_id}/absences/{absence_id}", status_code=204)
def remove_absence(advisor_id: int, absence_id: int, actor: Actor, services: Services) -> Response:
    services.catalogue.remove_absence(actor, advisor_id, absence_id)
    return Response(status_code=204)


@router.get("/closures", response_model=list[ClosureOut])
def list_closures(services: Services) -> list[ClosureOut]:
    return [
        ClosureOut.model_validate(c, from_attributes=True) for c in services.catalogue.closures()
    ]


@router.post("/closures", response_model=ClosureOut, status_code=201)
def add_closure(body: ClosureIn, actor: Actor, services: Services) -> ClosureOut:
    closure, displaced = services.catalogue.enter_closure(actor, body.day, body.name)
    return ClosureOut(
        id=closure.id,
        day=closure.day,
        name=closure.name,
        displaced=_displaced(displaced, services.scheduler.tz),
    )


def _displaced(displaced: Displaced, tz: ZoneInfo) -> list[DisplacedOut]:
    return [
        DisplacedOut(
            reference=item.reference,
            start=local(item.start, tz),
            outcome="moved" if item.moved else "cancelled",
            advisor_id=item.to_advisor_id,
        )
        for item in displaced.appointments
    ]


@router.get("/staff/bookings", response_model=list[StaffBookingOut])
def list_bookings(
    actor: Actor,
    services: Services,
    start: IsoDate,
    end: IsoDate | None = None,
    advisor_id: int | None = None,
) -> list[StaffBookingOut]:
    last = end or start
    if last < start:
        raise InvalidRequest("end before start", field="end", code="range_reversed")
    if last - start > timedelta(days=62):
        raise InvalidRequest("range too long", field="end", code="range_too_long", maximum=62)
    scheduler, links = services.scheduler, services.links
    return [
        staff_booking_out(scheduler, links, b)
        for b in services.desk.bookings(actor, start, last, advisor_id)
    ]


@router.post("/staff/bookings", response_model=StaffBookingOut, status_code=201)
@in_booking_lane
def book_on_behalf(
    body: StaffBookingIn,
    actor: Actor,
    services: Services,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> StaffBookingOut:
    """With an `Idempotency-Key`, the same body again gets the booking it made (the key is
    this staff member's own)."""
    once = idempotency(idempotency_key, body, scope=f"staff:{actor.id}:")
    placed = services.desk.book(actor, staff_booking_request(body), idempotency=once)
    assert placed.booking is not None
    if placed.replayed:
        response.headers.update(REPLAYED)
    return staff_booking_out(services.scheduler, services.links, placed.booking)


@router.get("/staff/bookings/{reference}", response_model=StaffBookingOut)
def get_booking(reference: str, actor: Actor, services: Services) -> StaffBookingOut:
    booking = services.desk.booking(actor, reference)
    return staff_booking_out(services.scheduler, services.links, booking)


@router.post("/staff/bookings/{reference}/cancel", response_model=StaffBookingOut)
def staff_cancel(reference: str, actor: Actor, services: Services) -> StaffBookingOut:
    booking = services.desk.cancel(actor, reference)
    return staff_booking_out(services.scheduler, services.links, booking)


@router.post("/staff/bookings/{reference}/reschedule", response_model=StaffBookingOut)
@in_booking_lane
def staff_reschedule(
    reference: str, body: RescheduleIn, actor: Actor, services: Services
) -> StaffBookingOut:
    booking = services.desk.reschedule(actor, reference, body.start)
    return staff_booking_out(services.scheduler, services.links, booking)


@router.post("/staff/bookings/{reference}/reissue-link", response_model=StaffBookingOut)
def reissue_link(reference: str, actor: Actor, services: Services) -> StaffBookingOut:
    """A new magic link for the citizen; every older link stops working at once."""
    booking = services.desk.reissue_link(actor, reference)
    return staff_booking_out(services.scheduler, services.links, booking)


@router.post("/staff/bookings/{reference}/outcome", response_model=StaffBookingOut)
def set_outcome(
    reference: str, body: OutcomeIn, actor: Actor, services: Services
) -> StaffBookingOut:
    booking = services.desk.set_outcome(actor, reference, body.outcome)
    return staff_booking_out(services.scheduler, services.links, booking)


@router.get("/staff/bookings/{reference}/audit", response_model=list[AuditOut])
def audit_trail(reference: str, actor: Actor, services: Services) -> list[AuditOut]:
    tz = services.scheduler.tz
    return [
        AuditOut(at=local(e.at, tz), actor_id=e.actor_id, action=e.action, detail=e.detail)
        for e in services.desk.audit_trail(actor, reference)
    ]
