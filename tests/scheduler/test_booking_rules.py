"""The rules a booking request must keep, checked by the engine whoever sends the request:
each refused with its own code at its field, nothing written, and the nearest variant that
keeps the rule booked. tests/web/test_booking_rules_entry_points.py sends the same table
through the APIs and the pages."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from notifications.models import OutboxMessage
from scheduler.db import read_session
from scheduler.errors import ChannelNotOffered, InvalidRequest, TooManyOpenBookings
from scheduler.models import Booking, BookingStatus
from scheduler.requests import NOTES_MAX, BookingRequest

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY_NINE = datetime.combine(date(2031, 1, 7), time(9), BERLIN)


@dataclass(frozen=True)
class Rule:
    name: str
    code: str
    field: str
    refused: dict[str, Any]  # what breaks the rule
    accepted: dict[str, Any]  # the nearest request that keeps it


RULES = [
    Rule(
        "a callback without a phone number",
        "phone_required",
        "phone",
        {"channel": "phone", "phone": None},
        {"channel": "phone", "phone": "0391 123456"},
    ),
    Rule(
        "video without an e-mail address",
        "email_required",
        "email",
        {"channel": "video", "email": None},
        {"channel": "video", "email": "erika@example.org"},
    ),
    Rule("notes too long", "notes_too_long", "notes", {"notes": "x" * 501}, {"notes": "x" * 500}),
    Rule(
        "wheelchair access for video",
        "wheelchair_access_in_person_only",
        "wheelchair_access",
        {"channel": "video", "wheelchair_access": True},
        {"channel": "in_person", "wheelchair_access": True},
    ),
    Rule(
        "wheelchair access for a callback",
        "wheelchair_access_in_person_only",
        "wheelchair_access",
        {"channel": "phone", "phone": "0391 123456", "wheelchair_access": True},
        {"channel": "in_person", "wheelchair_access": True},
    ),
]
IDS = [rule.name for rule in RULES]


@pytest.fixture
def service(world):
    service = world.service(channels=["video", "phone", "in_person"])
    world.advisor([service], password=None)
    return service


def request(service, **fields: Any) -> BookingRequest:
    base = BookingRequest(
        service_id=service.id,
        start=TUESDAY_NINE,
        channel="video",
        name="Erika Mustermann",
        email="erika@example.org",
    )
    return replace(base, **fields)


def count(container, model, *where) -> int:
    with read_session(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_a_request_breaking_a_rule_is_refused_with_its_code_at_its_field(container, service, rule):
    with pytest.raises(InvalidRequest) as refused:
        container.scheduler.book(request(service, **rule.refused))

    assert refused.value.code == rule.code
    assert refused.value.params["field"] == rule.field
    assert count(container, Booking) == 0
    assert count(container, OutboxMessage) == 0


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_the_request_keeping_the_rule_is_booked(container, service, rule):
    placed = container.scheduler.book(request(service, **rule.accepted))

    assert placed.booking is not None
    assert placed.booking.status == BookingStatus.CONFIRMED


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_a_held_slot_is_not_booked_against_a_rule(container, service, rule):
    channel = rule.refused.get("channel", "video")
    hold = container.scheduler.hold(service.id, TUESDAY_NINE, channel)

    with pytest.raises(InvalidRequest):
        container.scheduler.book(request(service, hold_token=hold.token, **rule.refused))

    assert count(container, Booking, Booking.status == BookingStatus.HELD) == 1
    assert count(container, Booking, Booking.status == BookingStatus.CONFIRMED) == 0


def test_a_blank_phone_number_is_no_phone_number(container, service):
    with pytest.raises(InvalidRequest) as refused:
        container.scheduler.book(request(service, channel="phone", phone="   "))

    assert refused.value.code == "phone_required"


def test_the_notes_limit_is_told_with_the_refusal(container, service):
    with pytest.raises(InvalidRequest) as refused:
        container.scheduler.book(request(service, notes="x" * (NOTES_MAX + 1)))

    assert refused.value.params["maximum"] == NOTES_MAX == 500


def test_an_e_mail_is_needed_only_for_video(container, service):
    for channel, phone, hour in (("phone", "0391 123456", 9), ("in_person", None, 10)):
        start = datetime.combine(date(2031, 1, 7), time(hour), BERLIN)
        fields = {"channel": channel, "phone": phone, "email": None, "start": start}
        assert container.scheduler.book(request(service, **fields)).booking is not None


def test_a_channel_the_service_does_not_offer_is_told_before_the_rules(container, world):
    service = world.service(channels=["video"])
    world.advisor([service], password=None)

    with pytest.raises(ChannelNotOffered):
        container.scheduler.book(request(service, channel="phone", phone=None))


def test_the_cap_on_open_bookings_is_told_before_the_rules(container, service):
    for hour in (9, 10):
        start = datetime.combine(date(2031, 1, 7), time(hour), BERLIN)
        container.scheduler.book(request(service, start=start))

    with pytest.raises(TooManyOpenBookings):
        container.scheduler.book(request(service, channel="phone", phone=None))


def test_the_search_window_is_the_longest_search_the_engine_answers(container, service):
    first, last = container.scheduler.search_window(date(2031, 1, 7))

    assert (last - first).days + 1 == container.scheduler.config.max_search_days
    assert container.scheduler.slots(service.id, first, last)
    with pytest.raises(InvalidRequest) as refused:
        container.scheduler.slots(service.id, first, last + timedelta(days=1))
    assert refused.value.code == "range_too_long"
