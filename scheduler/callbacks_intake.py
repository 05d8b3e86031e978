"""Writing a new callback request: its reference, and the cap on open requests per person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from scheduler.addresses import cap_key
from scheduler.callbacks_models import PENDING, CallbackRequest, CallbackStatus
from scheduler.callbacks_rules import CallbackInput, phone_key
from scheduler.callbacks_views import stored_windows
from scheduler.errors import NotFound, TooManyOpenCallbacks
from scheduler.models import Service
from scheduler.references import reference_chars


def new_reference() -> str:
    # "R" sets it apart from a booking's reference when it is read out on the phone.
    chars = reference_chars(7)
    return f"R{chars[:3]}-{chars[3:]}"


def insert(
    session: Session, data: CallbackInput, now: datetime, max_open: int
) -> tuple[CallbackRequest, str]:
    """The new, open request (flushed) and its service's name; `data` is checked already."""
    service = session.get(Service, data.service_id)
    if service is None or not service.active:
        raise NotFound("unknown service", field="service_id")
    phone, email = phone_key(data.phone), cap_key(data.email) if data.email else None
    check_cap(session, service.id, phone, email, max_open)
    row = CallbackRequest(
        reference=new_reference(),
        service_id=service.id,
        status=CallbackStatus.OPEN,
        name=data.name,
        phone=data.phone,
        email=data.email,
        phone_key=phone,
        email_key=email,
        language=data.language,
        note=data.note,
        windows=stored_windows(list(data.windows)),
        due_at=data.windows[0][0],
        attempts=0,
        created_by_id=data.created_by_id,
        token_version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row, service.name


def check_cap(
    session: Session, service_id: int, phone: str, email: str | None, max_open: int
) -> None:
    """Refuse a request beyond the open ones a person (a phone number or an e-mail address)
    may have for a service. On PostgreSQL the person's keys are locked for the transaction
    first, so that two parallel requests cannot both pass; SQLite's write lock does that."""
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted(k for k in (phone, email) if k):
            lock = func.pg_advisory_xact_lock(func.hashtextextended("callback:" + key, 0))
            session.execute(select(lock))
    same_person = CallbackRequest.phone_key == phone
    if email is not None:
        same_person = or_(same_person, CallbackRequest.email_key == email)
    count = session.scalar(
        select(func.count())
        .select_from(CallbackRequest)
        .where(
            CallbackRequest.service_id == service_id,
            CallbackRequest.status.in_(PENDING),
            same_person,
        )
    )
    if (count or 0) >= max_open:
        raise TooManyOpenCallbacks(maximum=max_open)
