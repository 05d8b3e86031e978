"""A citizen whose appointment an absence or a closure day cancelled goes first in line on the
service's waiting list (scheduler/waitlist_priority.py): the offer loop holds the next free time
that suits them before anyone else's, and the apology mail links to their place. "Now" is the
suite's frozen Monday, 2031-01-06; times are Europe/Berlin."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.db import read_session
from scheduler.models import Booking, BookingStatus
from scheduler.requests import BookingRequest
from scheduler.waitlist import JoinRequest
from scheduler.waitlist_models import WaitlistEntry, WaitlistOffer

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)
WEDNESDAY = date(2031, 1, 8)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


def book(container, service, advisor, start: datetime, email: str):
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=start,
            channel="video",
            name=email.split("@")[0].title(),
            email=email,
            advisor_id=advisor.id,
        )
    )
    assert placed.booking is not None
    return placed.booking


def sick_day(container, world, advisor) -> None:
    container.catalogue.enter_absence(
        world.admin, advisor.id, at(TUESDAY, 0), at(WEDNESDAY, 0), "sick"
    )


def entries(container, service) -> list[WaitlistEntry]:
    with read_session(container.sessions) as session:
        return list(
            session.scalars(
                select(WaitlistEntry)
                .where(WaitlistEntry.service_id == service.id)
                .order_by(WaitlistEntry.id)
            )
        )


def test_the_cancelled_citizens_stand_before_everyone_already_waiting(container, world):
    service = world.service(name="Wohngeld")
    anna = world.advisor([service])
    waiting = container.waitlist.join(
        JoinRequest(service.id, "Early", "early@example.org", "video")
    )
    assert waiting.position == 1
    book(container, service, anna, at(TUESDAY, 9), "erika@example.org")
    book(container, service, anna, at(TUESDAY, 10), "max@example.org")

    sick_day(container, world, anna)

    line = {e.email: e for e in entries(container, service)}
    assert {email: e.priority for email, e in line.items()} == {
        "erika@example.org": True,
        "max@example.org": True,
        "early@example.org": False,
    }
    assert (line["erika@example.org"].channel, line["erika@example.org"].weekdays) == ("video", [])
    with read_session(container.sessions) as session:
        views = {
            email: container.waitlist.mail_view(session, e.id, None) for email, e in line.items()
        }
    positions = {email: view[0].position for email, view in views.items() if view is not None}
    assert positions == {"erika@example.org": 1, "max@example.org": 2, "early@example.org": 3}


def test_the_offer_loop_holds_the_next_free_times_for_them_first(container, world):
    service = world.service(name="Wohngeld")
    anna = world.advisor([service])
    container.waitlist.join(JoinRequest(service.id, "Early", "early@example.org", "video"))
    book(container, service, anna, at(TUESDAY, 9), "erika@example.org")

    sick_day(container, world, anna)
    container.waitlist.run()

    with read_session(container.sessions) as session:
        made = session.execute(
            select(WaitlistEntry.email, WaitlistOffer.start_at)
            .join(WaitlistOffer, WaitlistOffer.entry_id == WaitlistEntry.id)
            .order_by(WaitlistOffer.start_at)
        ).all()
    assert [email for email, _ in made] == ["erika@example.org", "early@example.org"]
    # Anna is away all Tuesday: Erika's new time is on another day.
    assert made[0][1].astimezone(BERLIN).date() != TUESDAY


def test_someone_already_waiting_keeps_one_place_and_moves_to_the_front(container, world):
    service = world.service(name="Wohngeld")
    anna = world.advisor([service])
    container.waitlist.join(JoinRequest(service.id, "Early", "early@example.org", "video"))
    container.waitlist.join(JoinRequest(service.id, "Erika", "Erika@Example.org", "video"))
    book(container, service, anna, at(TUESDAY, 9), "erika@example.org")

    sick_day(container, world, anna)

    line = entries(container, service)
    assert [(e.email, e.priority) for e in line] == [
        ("early@example.org", False),
        ("Erika@Example.org", True),
    ]


def test_the_apology_links_to_the_place_first_in_line(container, world):
    service = world.service(name="Wohngeld")
    anna = world.advisor([service])
    book(container, service, anna, at(TUESDAY, 9), "erika@example.org")

    sick_day(container, world, anna)
    while container.outbox.deliver_due():
        pass

    with read_session(container.sessions) as session:
        [mail] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "displaced_cancelled")
        ).all()
    text, html = mail.text_body or "", mail.html_body or ""
    token = text.split("http://testserver/w/", 1)[1].split()[0]
    entry = container.waitlist.entry_for_token(token)
    assert (entry.email, entry.position) == ("erika@example.org", 1)
    assert f'href="http://testserver/w/{token}"' in html
    assert "erster Stelle der Warteliste" in text  # Erika booked in German
    assert "/warteliste?" not in text  # she is on the list already


def test_a_closure_day_puts_its_citizens_first_in_line_too(container, world):
    service = world.service(name="Wohngeld")
    anna = world.advisor([service])
    book(container, service, anna, at(TUESDAY, 9), "erika@example.org")

    container.catalogue.enter_closure(world.admin, TUESDAY, "Betriebsausflug")

    assert [(e.email, e.priority) for e in entries(container, service)] == [
        ("erika@example.org", True)
    ]


def _open_offer(container) -> WaitlistOffer:
    with read_session(container.sessions) as session:
        [offer] = session.scalars(select(WaitlistOffer)).all()
        return offer


def _away_that_day(container, world, advisor_id: int, moment: datetime) -> None:
    day = moment.astimezone(BERLIN).date()
    container.catalogue.enter_absence(
        world.admin, advisor_id, at(day, 0), at(day + timedelta(days=1), 0), "sick"
    )


def test_an_open_offer_follows_its_held_time_to_a_colleague(container, world):
    service = world.service(name="Wohngeld")
    advisors = {a.id for a in (world.advisor([service]), world.advisor([service]))}
    container.waitlist.join(JoinRequest(service.id, "Erika", "erika@example.org", "video"))
    container.waitlist.run()
    offered = _open_offer(container)

    _away_that_day(container, world, offered.advisor_id, offered.start_at)

    after = _open_offer(container)
    [colleague] = advisors - {offered.advisor_id}
    assert (after.status, after.advisor_id, after.start_at) == ("open", colleague, offered.start_at)
    with read_session(container.sessions) as session:
        held = session.get(Booking, after.booking_id)
        assert held is not None
        assert (held.status, held.advisor_id) == (BookingStatus.HELD, colleague)
    with read_session(container.sessions) as session:
        view = container.waitlist.mail_view(session, after.entry_id, after.id)
    assert view is not None
    assert view[1] is not None
    assert (
        container.waitlist.accept(container.waitlist.offer_token(view[1])).advisor_id == colleague
    )


def test_an_open_offer_nobody_can_take_ends_and_its_person_waits_again(container, world):
    service = world.service(name="Wohngeld")
    anna = world.advisor([service])
    container.waitlist.join(JoinRequest(service.id, "Erika", "erika@example.org", "video"))
    container.waitlist.run()
    offered = _open_offer(container)

    _away_that_day(container, world, anna.id, offered.start_at)

    after = _open_offer(container)
    assert (after.status, after.booking_id) == ("expired", None)
    [entry] = entries(container, service)
    assert entry.status == "waiting"
    container.waitlist.run()  # the next time that suits, on another day
    with read_session(container.sessions) as session:
        fresh = session.scalars(select(WaitlistOffer).where(WaitlistOffer.status == "open")).all()
    assert len(fresh) == 1
    assert fresh[0].start_at.astimezone(BERLIN).date() != offered.start_at.astimezone(BERLIN).date()
