"""Reminders: 24 h and 1 h before by default (configurable), each sent exactly once at its time,
following a rescheduled appointment, never after a cancellation, not at all when their moment
had already passed at booking time, and with the new link after a link was re-issued.

The clock is walked forward in small steps with `deliver_due()` after each, as a worker polling
the outbox would; each arrival is recorded with the clock time it arrived at."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from notifications.messages import MessageKind
from notifications.models import OutboxStatus
from scheduler.models import Service
from scheduler.views import BookingInfo
from tests.conftest import Clock, World
from tests.notifications.conftest import (
    TUESDAY,
    Received,
    SmtpServer,
    book,
    deliver_all,
    outbox,
    text_of,
)
from web.container import Container

WEDNESDAY = TUESDAY + timedelta(days=1)
FRIDAY = TUESDAY + timedelta(days=3)
STEP = timedelta(minutes=10)


@dataclass(frozen=True)
class Arrival:
    at: datetime
    received: Received

    @property
    def subject(self) -> str:
        return str(self.received.message["Subject"])

    @property
    def is_reminder(self) -> bool:
        return self.subject.startswith("Terminerinnerung")


@pytest.fixture
def service(world: World) -> Service:
    service = world.service()
    world.advisor([service])
    return service


def walk(container: Container, smtp: SmtpServer, clock: Clock, until: datetime) -> list[Arrival]:
    """Deliver what is due, step by step up to `until`, twice at every step; the arrivals with
    the clock time at which each came."""
    arrivals: list[Arrival] = []
    while True:
        before = len(smtp.received)
        deliver_all(container)
        deliver_all(container)
        arrivals += [Arrival(clock.now, r) for r in smtp.received[before:]]
        if clock.now >= until:
            return arrivals
        clock.now = min(clock.now + STEP, until)


def reminders(arrivals: list[Arrival]) -> list[Arrival]:
    return [a for a in arrivals if a.is_reminder]


def arrived_within_a_step(arrival: Arrival, due: datetime) -> bool:
    return due <= arrival.at < due + STEP


def test_default_reminders_come_24_hours_and_1_hour_before(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    book(container, service, WEDNESDAY)

    arrivals = walk(container, smtp, clock, until=WEDNESDAY + timedelta(days=2))

    first, second = reminders(arrivals)
    assert arrived_within_a_step(first, WEDNESDAY - timedelta(hours=24))
    assert arrived_within_a_step(second, WEDNESDAY - timedelta(hours=1))
    assert "Mittwoch, 8. Januar 2031" in first.subject
    assert "Wir erinnern Sie an Ihren Termin am Mittwoch" in text_of(first.received.message)


def test_each_reminder_is_sent_exactly_once(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    book(container, service, WEDNESDAY)

    walk(container, smtp, clock, until=WEDNESDAY + timedelta(days=3))

    written = outbox(container, kind=MessageKind.REMINDER)
    assert len(written) == 2
    assert {m.status for m in written} == {OutboxStatus.SENT}
    assert [m.attempts for m in written] == [1, 1]
    assert smtp.per_message_id() == {m.message_id: 1 for m in outbox(container)}


def test_configured_reminder_hours_are_used(
    container: Container,
    service: Service,
    make_container: Callable[..., Container],
    smtp: SmtpServer,
    clock: Clock,
) -> None:
    other = make_container(reminder_hours=[48.0, 2.0, 0.25])

    booking = book(other, service, FRIDAY)

    due = sorted(m.not_before for m in outbox(container, kind=MessageKind.REMINDER))
    assert due == [booking.start - timedelta(hours=h) for h in (48, 2, 0.25)]


def test_reminders_follow_a_rescheduled_appointment(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    booking = book(container, service, WEDNESDAY)
    early = walk(container, smtp, clock, until=WEDNESDAY - timedelta(hours=20))
    assert len(reminders(early)) == 1  # the 24-hour one for Wednesday went out

    container.scheduler.reschedule(booking.reference, FRIDAY)
    later = walk(container, smtp, clock, until=FRIDAY + timedelta(days=1))

    sent = reminders(later)
    assert len(sent) == 2
    assert arrived_within_a_step(sent[0], FRIDAY - timedelta(hours=24))
    assert arrived_within_a_step(sent[1], FRIDAY - timedelta(hours=1))
    assert all("Freitag, 10. Januar 2031" in a.subject for a in sent)
    statuses = {
        (m.not_before.astimezone(UTC), m.status)
        for m in outbox(container, kind=MessageKind.REMINDER)
    }
    assert statuses == {
        (WEDNESDAY - timedelta(hours=24), OutboxStatus.SENT),
        (WEDNESDAY - timedelta(hours=1), OutboxStatus.SUPERSEDED),
        (FRIDAY - timedelta(hours=24), OutboxStatus.SENT),
        (FRIDAY - timedelta(hours=1), OutboxStatus.SENT),
    }


def test_no_reminder_after_a_cancellation(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    booking = book(container, service, WEDNESDAY)
    deliver_all(container)
    container.scheduler.cancel(booking.reference)

    arrivals = walk(container, smtp, clock, until=WEDNESDAY + timedelta(days=1))

    assert [a.subject.split()[0] for a in arrivals] == ["Terminabsage"]
    assert [r.message["Subject"].split()[0] for r in smtp.received] == [
        "Terminbestätigung",
        "Terminabsage",
    ]
    written = outbox(container, kind=MessageKind.REMINDER)
    assert len(written) == 2
    assert {m.status for m in written} == {OutboxStatus.SUPERSEDED}


def test_reminder_whose_moment_has_passed_at_booking_time_is_not_written(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    clock.now = TUESDAY.replace(hour=7)  # 3 h before Tuesday 10:00
    booking = book(container, service, TUESDAY.replace(hour=10))

    [reminder] = outbox(container, kind=MessageKind.REMINDER)
    assert reminder.not_before == booking.start - timedelta(hours=1)
    arrivals = walk(container, smtp, clock, until=TUESDAY.replace(hour=12))
    assert [a.is_reminder for a in arrivals] == [False, True]  # the confirmation first
    assert arrived_within_a_step(arrivals[1], booking.start - timedelta(hours=1))


def _manage_url(container: Container, booking: BookingInfo) -> str:
    return container.links.urls(booking).manage


def test_reminders_after_a_reissued_link_carry_the_new_link(
    container: Container, world: World, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    booking = book(container, service, WEDNESDAY)
    old_link = _manage_url(container, booking)

    reissued = container.desk.reissue_link(world.admin, booking.reference)
    new_link = _manage_url(container, reissued)
    assert new_link != old_link

    pending = outbox(container, kind=MessageKind.REMINDER, status=OutboxStatus.PENDING)
    assert len(pending) == 2  # composed when sent, from the booking as it is then
    arrivals = walk(container, smtp, clock, until=WEDNESDAY + timedelta(hours=1))
    sent = reminders(arrivals)
    assert len(sent) == 2
    assert all(new_link in text_of(a.received.message) for a in sent)
    assert all(old_link not in text_of(a.received.message) for a in sent)
    assert sum(a.subject.startswith("Neuer Link") for a in arrivals) == 1


def test_a_reminder_not_sent_before_the_appointment_began_is_dropped(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    """A worker that was down all day must not remind anyone of a past appointment."""
    booking = book(container, service, TUESDAY.replace(hour=14))
    deliver_all(container)  # the confirmation
    clock.now = booking.start + timedelta(minutes=1)

    deliver_all(container)

    assert [
        str(r.message["Subject"])
        for r in smtp.received
        if "erinnerung" in str(r.message["Subject"]).lower()
    ] == []
    late = outbox(container, kind=MessageKind.REMINDER.value)
    assert {m.status for m in late} == {OutboxStatus.SUPERSEDED}
    assert {m.last_error for m in late} == {"expired before sending"}
