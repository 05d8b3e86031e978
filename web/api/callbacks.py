"""The callback queue's API: citizens ask for a call back (and withdraw through their link),
staff work the queue. Every rule is `scheduler/callbacks.py`'s; errors map in web/errors.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, EmailStr, Field

from scheduler.callbacks_models import AttemptOutcome, CallbackStatus
from scheduler.callbacks_rules import MAX_WINDOWS, NOTE_MAX, CallbackInput
from scheduler.callbacks_views import CallbackInfo
from scheduler.models import Channel
from web.api.idempotency import IdempotencyKey, idempotency
from web.api.public import AltchaProof
from web.container import Container
from web.deps import Actor, Services, Token, check_booking
from web.lanes import in_booking_lane
from web.presenters import local, staff_booking_out
from web.schemas import Id, Language, Name, Phone, ServiceRef, StaffBookingOut

router = APIRouter(prefix="/api/v1", tags=["callbacks"])
CallbackId = Annotated[int, Path(ge=1, le=2**62)]


class WindowIn(BaseModel):
    start: AwareDatetime
    end: AwareDatetime


class CallbackIn(BaseModel):
    service_id: Id
    name: Name
    phone: Phone
    windows: Annotated[list[WindowIn], Field(min_length=1, max_length=MAX_WINDOWS)]
    language: Language = "de"
    email: Annotated[EmailStr, Field(max_length=320)] | None = None
    # The length allowed is the engine's rule (notes_too_long); max_length only guards the body.
    note: Annotated[
        str,
        Field(max_length=2 * NOTE_MAX, pattern=r"^[^\x00]*$", description="at most 500 characters"),
    ] = ""


class WindowOut(BaseModel):
    start: str
    end: str


class CallbackOut(BaseModel):
    """The citizen's view of their request."""

    reference: str
    status: CallbackStatus
    service: ServiceRef
    windows: list[WindowOut]
    name: str
    phone: str
    email: str | None
    language: str
    note: str
    timezone: str
    created_at: str
    withdraw_url: str = Field(description="{base_url}/r/{token}: the token withdraws the request")


class StaffOut(BaseModel):
    id: int
    name: str


class StaffCallbackOut(BaseModel):
    id: int
    reference: str
    service_id: int
    service_name: str
    status: CallbackStatus
    windows: list[WindowOut]
    due_at: str
    created_at: str
    age_minutes: int = Field(description="since the request was made")
    attempts: int
    language: str
    name: str
    phone: str
    email: str | None
    note: str
    claimed_by: StaffOut | None
    claimed_at: str | None
    booking_id: int | None
    closed_at: str | None


class AttemptIn(BaseModel):
    outcome: AttemptOutcome


class AttemptOut(BaseModel):
    outcome: AttemptOutcome
    at: str
    staff_id: int | None


class QueueAccessIn(BaseModel):
    advisors_take_callbacks: Annotated[bool, Field(strict=True)]


class CallbackBookIn(BaseModel):
    start: AwareDatetime
    channel: Channel
    advisor_id: Id | None = None


def _input(body: CallbackIn) -> CallbackInput:
    return CallbackInput(
        service_id=body.service_id,
        name=body.name,
        phone=body.phone,
        windows=[(w.start, w.end) for w in body.windows],
        language=body.language,
        email=str(body.email) if body.email else None,
        note=body.note,
    )


def _windows(services: Container, callback: CallbackInfo) -> list[WindowOut]:
    tz = services.scheduler.tz
    return [WindowOut(start=local(s, tz), end=local(e, tz)) for s, e in callback.windows]


def _citizen_out(services: Container, callback: CallbackInfo) -> CallbackOut:
    token = services.callbacks.withdraw_token(callback)
    return CallbackOut(
        reference=callback.reference,
        status=CallbackStatus(callback.status),
        service=ServiceRef(id=callback.service_id, name=callback.service_name),
        windows=_windows(services, callback),
        name=callback.name,
        phone=callback.phone,
        email=callback.email,
        language=callback.language,
        note=callback.note,
        timezone=services.scheduler.config.timezone,
        created_at=local(callback.created_at, services.scheduler.tz),
        withdraw_url=f"{services.settings.base_url}/r/{token}",
    )


def _maybe(moment: datetime | None, services: Container) -> str | None:
    return local(moment, services.scheduler.tz) if moment is not None else None


def _staff_out(services: Container, callback: CallbackInfo) -> StaffCallbackOut:
    now = services.scheduler.clock()
    claimer = callback.claimed_by_id
    return StaffCallbackOut(
        id=callback.id,
        reference=callback.reference,
        service_id=callback.service_id,
        service_name=callback.service_name,
        status=CallbackStatus(callback.status),
        windows=_windows(services, callback),
        due_at=local(callback.due_at, services.scheduler.tz),
        created_at=local(callback.created_at, services.scheduler.tz),
        age_minutes=max(0, int((now - callback.created_at).total_seconds() // 60)),
        attempts=callback.attempts,
        language=callback.language,
        name=callback.name,
        phone=callback.phone,
        email=callback.email,
        note=callback.note,
        claimed_by=StaffOut(id=claimer, name=callback.claimed_by_name or "") if claimer else None,
        claimed_at=_maybe(callback.claimed_at, services),
        booking_id=callback.booking_id,
        closed_at=_maybe(callback.closed_at, services),
    )


# -- citizens ----------------------------------------------------------------------------------


@router.post(
    "/callbacks",
    response_model=CallbackOut,
    status_code=201,
    tags=["citizens"],
    responses={
        422: {"description": "invalid input, or an X-Altcha that is not a valid, unused proof"},
        429: {"description": "too many requests from this address; see Retry-After"},
    },
)
def request_callback(
    body: CallbackIn,
    services: Services,
    request: Request,
    altcha: AltchaProof = None,
    idempotency_key: IdempotencyKey = None,
) -> CallbackOut:
    """With an `Idempotency-Key`, the same body again gets the request it made."""
    check_booking(request, altcha)
    once = idempotency(idempotency_key, body, scope="callback:")
    return _citizen_out(services, services.callbacks.request(_input(body), once))


@router.get("/callback", response_model=CallbackOut, tags=["citizens"])
def get_callback(token: Token, services: Services) -> CallbackOut:
    return _citizen_out(services, services.callbacks.for_token(token))


@router.post("/callback/withdraw", response_model=CallbackOut, tags=["citizens"])
def withdraw_callback(token: Token, services: Services) -> CallbackOut:
    """Withdraw the request (idempotent); 409 once it has been booked, settled or closed."""
    return _citizen_out(services, services.callbacks.withdraw(token))


# -- staff -------------------------------------------------------------------------------------


@router.get("/staff/callbacks", response_model=list[StaffCallbackOut], tags=["staff"])
def list_callbacks(
    actor: Actor,
    services: Services,
    status: Annotated[CallbackStatus | None, Query(description="default: open and claimed")] = None,
    service_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2,3}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[StaffCallbackOut]:
    """The queue, the earliest due first; an advisor sees only their services' requests, and
    only where the service lets advisors take callbacks."""
    found = services.callbacks.queue(actor, status, service_id, language, limit)
    return [_staff_out(services, c) for c in found]


@router.post("/staff/callbacks", response_model=StaffCallbackOut, status_code=201, tags=["staff"])
def create_callback(
    body: CallbackIn, actor: Actor, services: Services, idempotency_key: IdempotencyKey = None
) -> StaffCallbackOut:
    """Hotline: a request taken during a call; with an `Idempotency-Key` (this staff member's
    own), the same body again gets the request it made."""
    once = idempotency(idempotency_key, body, scope=f"callback-staff:{actor.id}:")
    return _staff_out(services, services.callbacks.create(actor, _input(body), once))


@router.get("/staff/callbacks/{callback_id}", response_model=StaffCallbackOut, tags=["staff"])
def get_staff_callback(
    callback_id: CallbackId, actor: Actor, services: Services
) -> StaffCallbackOut:
    return _staff_out(services, services.callbacks.get(actor, callback_id))


@router.post(
    "/staff/callbacks/{callback_id}/claim", response_model=StaffCallbackOut, tags=["staff"]
)
def claim_callback(callback_id: CallbackId, actor: Actor, services: Services) -> StaffCallbackOut:
    """409 `callback_claimed` with `claimed_by` when another staff member holds it."""
    return _staff_out(services, services.callbacks.claim(actor, callback_id))


@router.post(
    "/staff/callbacks/{callback_id}/release", response_model=StaffCallbackOut, tags=["staff"]
)
def release_callback(callback_id: CallbackId, actor: Actor, services: Services) -> StaffCallbackOut:
    return _staff_out(services, services.callbacks.release(actor, callback_id))


@router.post(
    "/staff/callbacks/{callback_id}/attempts", response_model=StaffCallbackOut, tags=["staff"]
)
def log_attempt(
    callback_id: CallbackId, body: AttemptIn, actor: Actor, services: Services
) -> StaffCallbackOut:
    return _staff_out(services, services.callbacks.attempt(actor, callback_id, body.outcome))


@router.get(
    "/staff/callbacks/{callback_id}/attempts", response_model=list[AttemptOut], tags=["staff"]
)
def list_attempts(callback_id: CallbackId, actor: Actor, services: Services) -> list[AttemptOut]:
    """Every call made, the first first."""
    tz = services.scheduler.tz
    return [
        AttemptOut(outcome=AttemptOutcome(a.outcome), at=local(a.at, tz), staff_id=a.staff_id)
        for a in services.callbacks.attempts(actor, callback_id)
    ]


@router.post(
    "/staff/callbacks/{callback_id}/settle", response_model=StaffCallbackOut, tags=["staff"]
)
def settle_callback(callback_id: CallbackId, actor: Actor, services: Services) -> StaffCallbackOut:
    """Settled on the phone: the request is done without an appointment."""
    return _staff_out(services, services.callbacks.settle(actor, callback_id))


@router.post(
    "/staff/callbacks/{callback_id}/book",
    response_model=StaffBookingOut,
    status_code=201,
    tags=["staff"],
)
@in_booking_lane
def book_callback(
    callback_id: CallbackId, body: CallbackBookIn, actor: Actor, services: Services
) -> StaffBookingOut:
    """An appointment from the request, with the citizen's data: as POST /staff/bookings."""
    _, booking = services.callbacks.book(
        actor, callback_id, body.start, body.channel.value, body.advisor_id
    )
    return staff_booking_out(services.scheduler, services.links, booking)


@router.put("/staff/services/{service_id}/callbacks", response_model=QueueAccessIn, tags=["staff"])
def set_queue_access(
    service_id: CallbackId, body: QueueAccessIn, actor: Actor, services: Services
) -> QueueAccessIn:
    """Admin: let the advisors of this service see and work its callback queue (default off)."""
    allowed = services.callbacks.open_to_advisors(actor, service_id, body.advisors_take_callbacks)
    return QueueAccessIn(advisors_take_callbacks=allowed)
