"""A citizen whose appointment an absence or a closure day cancelled goes first in line on the
service's waiting list (scheduler/waitlist_priority.py): the offer loop holds the next free time
that suits them before anyone else's, and the apology mail links to their place. "Now" is the
suite's frozen Monday, 2031-01-06; times are Europe/Berlin."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.db import read_session
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
