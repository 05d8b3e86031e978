"""Absences and closure days over booked appointments (scheduler/displacement.py): moved to a
free colleague at the same time, or cancelled with an apology; the invites follow. Times are
Europe/Berlin; in January that is UTC+1. "Now" is the suite's frozen Monday, 2031-01-06."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.accounts import StaffIdentity
from scheduler.catalogue import HoursSpec
from scheduler.db import read_session
from scheduler.displacement import AffectedChanged
from scheduler.models import AuditEntry, Booking, BookingStatus
from scheduler.requests import BookingRequest

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)
WEDNESDAY = date(2031, 1, 8)
# Anna's eight appointments on the sick day.
TIMES = [(9, 0), (9, 30), (10, 0), (10, 30), (11, 0), (11, 30), (13, 0), (13, 30)]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


def book(container, service, advisor, start: datetime, n: int, channel: str = "video"):
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=start,
            channel=channel,
            name=f"Citizen {n}",
            email=f"citizen{n}@example.org",
            phone="0391 1234" if channel == "phone" else None,
            advisor_id=advisor.id,
        )
    )
    assert placed.booking is not None
    return placed.booking


def rows(container, ids) -> dict[int, Booking]:
    with read_session(container.sessions) as session:
        found = session.scalars(select(Booking).where(Booking.id.in_(ids))).all()
        return {b.id: b for b in found}


def delivered(container) -> list[OutboxMessage]:
    while container.outbox.deliver_due():
        pass
    with read_session(container.sessions) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def absent(container, world, advisor, first: datetime, last: datetime) -> None:
    container.catalogue.add_absence(world.admin, advisor.id, first, last, "training")


@pytest.fixture
def team(container, world):
    """Anna with 8 appointments on Tuesday; Ben free 9:00–10:30, Cleo free 11:00–12:00."""
    service = world.service(name="Wohngeld")
    anna, ben, cleo = (world.advisor([service]) for _ in range(3))
    bookings = [
        book(container, service, anna, at(TUESDAY, h, m), n) for n, (h, m) in enumerate(TIMES)
    ]
    absent(container, world, ben, at(TUESDAY, 10, 30), at(WEDNESDAY, 0))
    absent(container, world, cleo, at(TUESDAY, 0), at(TUESDAY, 11))
    absent(container, world, cleo, at(TUESDAY, 12), at(WEDNESDAY, 0))
    return service, anna, ben, cleo, bookings


def sick_day(container, world, anna, expected=None):
    return container.catalogue.enter_absence(
        world.admin, anna.id, at(TUESDAY, 0), at(WEDNESDAY, 0), "sick", expected
    )[1]


def test_a_sick_day_moves_five_of_eight_appointments_and_cancels_three(container, world, team):
    _service, anna, ben, cleo, bookings = team

    outcome = sick_day(container, world, anna)

    assert len(outcome.appointments) == 8
    plan = [(i.start.astimezone(BERLIN).strftime("%H:%M"), i.to_advisor_id) for i in outcome.items]
    assert plan == [
        ("09:00", ben.id),
        ("09:30", ben.id),
        ("10:00", ben.id),
        ("10:30", None),
        ("11:00", cleo.id),
        ("11:30", cleo.id),
        ("13:00", None),
        ("13:30", None),
    ]
    stored = rows(container, [b.id for b in bookings])
    for booking, item in zip(bookings, outcome.items, strict=True):
        row = stored[booking.id]
        assert row.reference == booking.reference
        assert row.start_at == booking.start
        assert row.sequence == 1
        if item.moved:
            assert (row.status, row.advisor_id) == (BookingStatus.CONFIRMED, item.to_advisor_id)
        else:
            assert (row.status, row.advisor_id) == (BookingStatus.CANCELLED, anna.id)


def test_the_sick_day_sends_the_right_mails_with_updated_invites(container, world, team):
    service, anna, ben, cleo, bookings = team
    references = {b.id: b.reference for b in bookings}

    outcome = sick_day(container, world, anna)
    messages = [m for m in delivered(container) if m.kind.startswith("displaced_")]

    by_kind: dict[str, list[OutboxMessage]] = {}
    for message in messages:
        by_kind.setdefault(message.kind, []).append(message)
    assert len(by_kind["displaced_moved"]) == 5
    assert len(by_kind["displaced_cancelled"]) == 3
    names = {ben.id: ben.name, cleo.id: cleo.name}
    for item in outcome.appointments:
        [message] = [m for m in messages if m.booking_id == item.booking_id]
        assert message.recipient == f"citizen{TIMES.index(_hm(item.start))}@example.org"
        assert message.ics is not None
        uid = f"UID:booking-{references[item.booking_id]}@testserver"
        assert uid in message.ics
        assert "SEQUENCE:1" in message.ics
        assert "DTSTART;TZID=Europe/Berlin:20310107T" + _hm_compact(item.start) in message.ics
        if item.moved:
            assert message.ics_method == "REQUEST"
            assert "METHOD:REQUEST" in message.ics
            assert names[item.to_advisor_id] in message.text_body
            assert "same" in message.text_body or "gleich" in message.text_body
        else:
            assert message.ics_method == "CANCEL"
            assert "METHOD:CANCEL" in message.ics
            assert "STATUS:CANCELLED" in message.ics
            text = message.text_body or ""
            # In this order: the place first in line on the waiting list (a new time held for
            # them first), the free times, a callback; no second place on the list.
            place = text.index("http://testserver/w/")
            first_time = text.index(f"/buchen/{service.id}/angaben?")
            callback = text.index(f"http://testserver/rueckruf?anliegen={service.id}")
            assert place < first_time < callback
            assert "/warteliste?" not in text


def _hm(moment: datetime) -> tuple[int, int]:
    local = moment.astimezone(BERLIN)
    return local.hour, local.minute


def _hm_compact(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%H%M%S")


def test_the_apology_offers_free_times_that_are_really_free(container, world, team):
    service, anna, _ben, _cleo, _bookings = team
    sick_day(container, world, anna)
    [message] = [m for m in delivered(container) if m.kind == "displaced_cancelled"][:1]
    offered = re.findall(r"start=([0-9T%A-F:+-]+)", message.text_body or "")
    assert len(offered) == 3
    free = {
        s.start
        for s in container.scheduler.slots(service.id, TUESDAY - timedelta(days=1), WEDNESDAY)
    }
    for raw in offered:
        moment = datetime.fromisoformat(raw.replace("%3A", ":").replace("%2B", "+"))
        assert moment in free


def test_the_moved_booking_keeps_its_links(container, world, team):
    _service, anna, ben, _cleo, bookings = team
    before = container.links.urls(bookings[0])
    sick_day(container, world, anna)
    with read_session(container.sessions) as session:
        after = container.scheduler.booking_info(session, bookings[0].id)
    assert after is not None
    assert container.links.urls(after) == before
    token = before.manage.rsplit("/", 1)[1]
    assert container.scheduler.booking_for_token(token).advisor_id == ben.id


def test_the_preview_shows_the_same_plan_and_changes_nothing(container, world, team):
    _service, anna, ben, cleo, bookings = team
    displacement = container.catalogue._displacement
    assert displacement is not None

    preview = displacement.preview_absence(anna.id, at(TUESDAY, 0), at(WEDNESDAY, 0))

    assert [(i.booking_id, i.to_advisor_id) for i in preview.items] == [
        (b.id, target)
        for b, target in zip(
            bookings, [ben.id, ben.id, ben.id, None, cleo.id, cleo.id, None, None], strict=True
        )
    ]
    assert (len(preview.moved), len(preview.cancelled)) == (5, 3)
    assert all(r.advisor_id == anna.id for r in rows(container, [b.id for b in bookings]).values())
    assert container.catalogue.absences(world.admin, anna.id) == []


def test_a_changed_set_of_appointments_is_refused_and_nothing_is_saved(container, world, team):
    _service, anna, _ben, _cleo, bookings = team
    shown = frozenset(b.id for b in bookings[:-1])

    with pytest.raises(AffectedChanged):
        sick_day(container, world, anna, expected=shown)

    assert container.catalogue.absences(world.admin, anna.id) == []
    assert all(r.advisor_id == anna.id for r in rows(container, [b.id for b in bookings]).values())


def test_the_least_loaded_free_colleague_gets_the_appointment(container, world):
    service = world.service()
    anna, ben, cleo = (world.advisor([service]) for _ in range(3))
    moving = book(container, service, anna, at(TUESDAY, 9), 0)
    book(container, service, ben, at(TUESDAY, 13), 1)

    outcome = sick_day(container, world, anna)

    assert [i.to_advisor_id for i in outcome.items] == [cleo.id]
    assert rows(container, [moving.id])[moving.id].advisor_id == cleo.id


def test_only_colleagues_of_the_same_service_take_appointments(container, world):
    housing, care = world.service(name="Wohngeld"), world.service(name="Pflege")
    anna, _other = world.advisor([housing]), world.advisor([care])
    booking = book(container, housing, anna, at(TUESDAY, 9), 0)

    outcome = sick_day(container, world, anna)

    assert [i.to_advisor_id for i in outcome.items] == [None]
    assert rows(container, [booking.id])[booking.id].status == BookingStatus.CANCELLED


def test_a_colleague_whose_hours_do_not_cover_the_time_is_not_chosen(container, world):
    service = world.service()
    anna = world.advisor([service])
    world.advisor([service], hours=[HoursSpec(1, time(13), time(16))])
    booking = book(container, service, anna, at(TUESDAY, 9), 0)

    outcome = sick_day(container, world, anna)

    assert [i.moved for i in outcome.items] == [False]
    assert rows(container, [booking.id])[booking.id].status == BookingStatus.CANCELLED


def test_appointments_that_have_begun_and_other_days_are_left_alone(container, world, clock):
    service = world.service(min_notice_minutes=0)
    anna = world.advisor([service])
    running = book(container, service, anna, at(TUESDAY, 9), 0)
    later = book(container, service, anna, at(WEDNESDAY, 9), 1)
    clock.now = at(TUESDAY, 9, 10)

    outcome = sick_day(container, world, anna)

    assert outcome.items == ()
    stored = rows(container, [running.id, later.id])
    assert {b.status for b in stored.values()} == {BookingStatus.CONFIRMED}


def test_a_hold_moves_with_the_absence_and_the_citizen_still_books_it(container, world):
    service = world.service()
    anna, ben = world.advisor([service]), world.advisor([service])
    hold = container.scheduler.hold(service.id, at(TUESDAY, 9), "video")
    with read_session(container.sessions) as session:
        assert session.scalar(select(Booking.advisor_id)) == anna.id

    outcome = sick_day(container, world, anna)

    assert outcome.appointments == []
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=at(TUESDAY, 9),
            channel="video",
            name="Erika",
            email="erika@example.org",
            hold_token=hold.token,
        )
    )
    assert placed.booking is not None
    assert rows(container, [placed.booking.id])[placed.booking.id].advisor_id == ben.id


def test_a_closure_day_cancels_every_appointment_that_day(container, world):
    service = world.service()
    anna, ben = world.advisor([service]), world.advisor([service])
    tuesday = [book(container, service, a, at(TUESDAY, 9), n) for n, a in enumerate((anna, ben))]
    wednesday = book(container, service, anna, at(WEDNESDAY, 9), 5)

    closure, outcome = container.catalogue.enter_closure(world.admin, TUESDAY, "Betriebsausflug")

    assert closure.day == TUESDAY
    assert [(i.booking_id, i.moved) for i in outcome.items] == [(b.id, False) for b in tuesday]
    stored = rows(container, [b.id for b in [*tuesday, wednesday]])
    assert [stored[b.id].status for b in tuesday] == [BookingStatus.CANCELLED] * 2
    assert stored[wednesday.id].status == BookingStatus.CONFIRMED
    mails = [m for m in delivered(container) if m.kind == "displaced_cancelled"]
    assert len(mails) == 2
    assert all("METHOD:CANCEL" in (m.ics or "") for m in mails)
    assert all("geschlossen" in (m.text_body or "") for m in mails)  # the citizens wrote German


def test_every_change_is_audited_with_its_actor(container, world, team):
    _service, anna, _ben, _cleo, _bookings = team
    identity = StaffIdentity.of(anna)
    container.catalogue.enter_absence(identity, anna.id, at(TUESDAY, 0), at(WEDNESDAY, 0))
    with read_session(container.sessions) as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("displaced_%"))
        ).all()
    actions = sorted(e.action for e in entries)
    assert actions == ["displaced_cancelled"] * 3 + ["displaced_moved"] * 5
    assert {e.actor_id for e in entries} == {anna.id}


def test_a_reminder_of_a_cancelled_appointment_is_not_sent(container, world, team):
    _service, anna, _ben, _cleo, bookings = team
    sick_day(container, world, anna)
    with read_session(container.sessions) as session:
        reminders = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == "reminder",
                OutboxMessage.booking_id == bookings[-1].id,
                OutboxMessage.status == "pending",
            )
        ).all()
    assert reminders == []
