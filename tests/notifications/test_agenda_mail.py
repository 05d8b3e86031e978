"""The advisor's day by e-mail: planned at the configured local time for those who opted in,
once however many processes plan it, rendered from the day as it is when sent, and naming no
citizen. Through a real SMTP server; the office clock is set by each test."""

from __future__ import annotations

from datetime import datetime

import pytest

from notifications.agenda import AgendaPlanner
from scheduler.accounts import StaffIdentity
from scheduler.models import Service, Staff
from tests.conftest import Clock, World
from tests.notifications.conftest import BERLIN, CITIZEN, TUESDAY, SmtpServer, book, text_of
from web.container import Container

SEVEN = datetime(2031, 1, 7, 7, 0, tzinfo=BERLIN)  # the configured time on TUESDAY


@pytest.fixture
def service(world: World) -> Service:
    return world.service()


@pytest.fixture
def advisor(world: World, service: Service) -> Staff:
    staff = world.advisor([service], email="anna@example.org")
    world.container.accounts.set_agenda_mail(StaffIdentity.of(staff), True)
    return staff


def _agendas(smtp: SmtpServer) -> list[str]:
    return [text_of(r.message) for r in smtp.received if r.rcpt_tos == ["anna@example.org"]]


def _deliver(container: Container) -> None:
    while container.outbox.deliver_due():
        pass


def test_the_day_arrives_at_seven_once_however_many_processes_plan_it(
    container: Container, service: Service, advisor: Staff, clock: Clock, smtp: SmtpServer
) -> None:
    first = book(container, service, TUESDAY, channel="phone", phone="0176 1234567")
    second = book(container, service, TUESDAY.replace(hour=13), email="max@example.org")
    book(container, service, TUESDAY.replace(day=8), email="later@example.org")  # tomorrow
    clock.now = SEVEN.replace(hour=6, minute=59)
    assert container.agenda() == 0  # 06:59: not yet

    clock.now = SEVEN
    other_process = AgendaPlanner(container.sessions, container.agenda.config, clock)
    assert container.agenda() == 1
    assert container.agenda() == 0  # once per process and day
    assert other_process() == 0  # the database refuses the second
    _deliver(container)

    [agenda] = _agendas(smtp)
    assert "Ihre Termine am Dienstag, 7. Januar 2031" in agenda
    assert first.reference in agenda
    assert second.reference in agenda
    assert agenda.index("09:00") < agenda.index("13:00")
    assert "Telefonberatung" in agenda
    assert "Videoberatung" in agenda
    # Like the calendar feed: no citizen's name or contact.
    for private in ("Erika", CITIZEN, "max@example.org", "0176"):
        assert private not in agenda
    assert "http://testserver/staff/agenda" in agenda


def test_no_agenda_without_opting_in_or_without_appointments(
    container: Container, world: World, service: Service, clock: Clock, smtp: SmtpServer
) -> None:
    world.advisor([service], email="quiet@example.org")  # not opted in
    free = world.advisor([world.service(name="Wohngeld")], email="free@example.org")
    container.accounts.set_agenda_mail(StaffIdentity.of(free), True)
    book(container, service, TUESDAY)
    clock.now = SEVEN
    assert container.agenda() == 0


def test_an_agenda_whose_day_was_cancelled_meanwhile_is_not_sent(
    container: Container, service: Service, advisor: Staff, clock: Clock, smtp: SmtpServer
) -> None:
    booking = book(container, service, TUESDAY)
    clock.now = SEVEN
    assert container.agenda() == 1
    container.scheduler.cancel(booking.reference)
    _deliver(container)
    assert _agendas(smtp) == []


def test_opting_out_stops_a_planned_agenda(
    container: Container, service: Service, advisor: Staff, clock: Clock, smtp: SmtpServer
) -> None:
    book(container, service, TUESDAY)
    clock.now = SEVEN
    container.agenda()
    container.accounts.set_agenda_mail(StaffIdentity.of(advisor), False)
    _deliver(container)
    assert _agendas(smtp) == []


def test_a_worker_starting_in_the_afternoon_skips_the_morning_agenda(
    container: Container, service: Service, advisor: Staff, clock: Clock
) -> None:
    book(container, service, TUESDAY.replace(hour=15))
    clock.now = SEVEN.replace(hour=12, minute=30)
    assert container.agenda() == 0
