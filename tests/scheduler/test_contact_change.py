"""Correcting a booking's name, phone and e-mail address through its link
(scheduler/contact_change.py): name and phone at once, the address only through a token sent to
it, bound to the address it was asked from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduler.addresses import cap_key
from scheduler.contact_change import (
    EMAIL_CHANGE_LIFETIME,
    ContactEvent,
    ContactEventKind,
    ContactInvalid,
    EmailChangeStale,
)
from scheduler.db import read_session
from scheduler.errors import (
    EmailRequired,
    PhoneRequired,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TooManyOpenBookings,
)
from scheduler.models import Booking
from scheduler.requests import BookingRequest
from tests.scheduler.test_services import TUESDAY, local

EMAIL = "erika@example.org"
NEW = "Erika.Neu@example.net"


@pytest.fixture
def service(world):
    service = world.service(channels=["video", "phone"])
    world.advisor([service])
    return service


def book(container, service, hour: int = 9, email: str | None = EMAIL, channel="video"):
    request = BookingRequest(
        service_id=service.id,
        start=local(TUESDAY, hour),
        channel=channel,
        name="Erika Mustermann",
        email=email,
        phone="0391 1" if channel == "phone" else None,
    )
    booking = container.scheduler.book(request).booking
    assert booking is not None
    manage, _ = container.scheduler.links(booking)
    return booking, manage


@pytest.fixture
def events(container) -> list[ContactEvent]:
    seen: list[ContactEvent] = []
    container.contact_change.subscribe(lambda session, event: seen.append(event))
    return seen


def stored(container, reference: str) -> Booking:
    with read_session(container.sessions) as session:
        return session.scalars(select(Booking).where(Booking.reference == reference)).one()


def change_token(container, booking, email: str = NEW, was: str = cap_key(EMAIL)) -> str:
    return container.contact_change.email_token(booking, email, was, container.scheduler.clock())


def test_name_and_phone_change_at_once_with_the_search_key(container, service, events):
    booking, manage = book(container, service)

    corrected = container.contact_change.correct(manage, " Erika Musterfrau ", "0391 2", EMAIL)

    assert corrected.changed
    assert not corrected.sent
    row = stored(container, booking.reference)
    assert (row.name, row.phone, row.email) == ("Erika Musterfrau", "0391 2", EMAIL)
    assert "musterfrau" in row.search_key
    assert "3912" in row.search_key
    assert events == []


def test_the_same_details_change_nothing(container, service, events):
    booking, manage = book(container, service)
    before = stored(container, booking.reference).updated_at

    corrected = container.contact_change.correct(manage, "Erika Mustermann", "", EMAIL)

    assert not corrected.changed
    assert not corrected.sent
    assert stored(container, booking.reference).updated_at == before


@pytest.mark.parametrize(
    ("name", "phone", "email", "error"),
    [
        ("", "", EMAIL, ContactInvalid),
        ("x" * 201, "", EMAIL, ContactInvalid),
        ("Erika\x00", "", EMAIL, ContactInvalid),
        ("Erika", "call me", EMAIL, ContactInvalid),
        ("Erika", "", "no address", ContactInvalid),
        ("Erika", "", "", EmailRequired),
    ],
)
def test_bad_details_are_refused_before_anything_changes(
    container, service, events, name, phone, email, error
):
    booking, manage = book(container, service)

    with pytest.raises(error):
        container.contact_change.correct(manage, name, phone, email)

    assert stored(container, booking.reference).name == "Erika Mustermann"
    assert events == []


def test_a_phone_appointment_keeps_its_number(container, service):
    _, manage = book(container, service, channel="phone")

    with pytest.raises(PhoneRequired):
        container.contact_change.correct(manage, "Erika", "", EMAIL)


def test_a_new_address_is_only_asked_for(container, service, events):
    booking, manage = book(container, service)

    corrected = container.contact_change.correct(manage, "Erika Mustermann", "", NEW)

    assert corrected.confirm_sent_to == NEW
    assert stored(container, booking.reference).email == EMAIL
    [event] = events
    assert (event.kind, event.recipient) == (ContactEventKind.EMAIL_CHANGE_REQUESTED, NEW)
    assert event.params == {"email": NEW, "was": cap_key(EMAIL)}


def test_confirming_sets_the_address_and_tells_the_old_one(container, service, events):
    booking, _ = book(container, service)

    container.contact_change.confirm(change_token(container, booking))

    row = stored(container, booking.reference)
    assert (row.email, row.email_key) == (NEW, cap_key(NEW))
    assert cap_key(NEW) in row.search_key
    [event] = events
    assert (event.kind, event.recipient) == (ContactEventKind.EMAIL_CHANGED, EMAIL)


def test_a_token_is_good_once(container, service):
    booking, _ = book(container, service)
    token = change_token(container, booking)
    container.contact_change.confirm(token)

    with pytest.raises(EmailChangeStale):
        container.contact_change.confirm(token)
    with pytest.raises(EmailChangeStale):
        container.contact_change.read(token)


def test_a_token_asked_from_another_address_is_refused(container, service):
    booking, _ = book(container, service)

    with pytest.raises(EmailChangeStale):
        container.contact_change.confirm(change_token(container, booking, was="other@example.org"))
    assert stored(container, booking.reference).email == EMAIL


def test_a_token_expires_after_a_day(container, service, clock):
    booking, _ = book(container, service)
    token = change_token(container, booking)
    clock.advance(seconds=EMAIL_CHANGE_LIFETIME.total_seconds())

    with pytest.raises(TokenExpired):
        container.contact_change.confirm(token)


def test_a_forged_token_or_one_of_another_purpose_is_refused(container, service):
    booking, manage = book(container, service)
    token = change_token(container, booking)

    for bad in (token[:-2] + "xx", manage):
        with pytest.raises(TokenInvalid):
            container.contact_change.confirm(bad)


def test_a_reissued_link_revokes_the_token(container, service, world):
    booking, _ = book(container, service)
    token = change_token(container, booking)
    with container.sessions.begin() as session:
        row = session.scalars(select(Booking).where(Booking.id == booking.id)).one()
        row.token_version += 1

    with pytest.raises(TokenRevoked):
        container.contact_change.confirm(token)


def test_the_new_address_keeps_to_the_cap_of_open_appointments(container, service):
    booking, _ = book(container, service)
    book(container, service, 10, email="erika.neu+a@example.net")
    book(container, service, 11, email="ERIKA.NEU@example.net")

    with pytest.raises(TooManyOpenBookings):
        container.contact_change.confirm(change_token(container, booking))
    assert stored(container, booking.reference).email == EMAIL


def test_a_past_appointment_does_not_count_against_the_cap(container, service, clock):
    booking, _ = book(container, service)
    book(container, service, 10, email=NEW)
    book(container, service, 11, email=NEW)
    clock.now = local(TUESDAY, 12) + timedelta(minutes=1)

    container.contact_change.confirm(change_token(container, booking))

    assert stored(container, booking.reference).email == NEW
