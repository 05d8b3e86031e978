"""The waiting list's engine: joining, the offer loop, accepting, declining, expiry, and two
loops or an acceptance and an expiry at once, on the real database of the suite."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.catalogue import HoursSpec
from scheduler.db import read_session
from scheduler.errors import (
    AlreadyWaiting,
    ChannelNotOffered,
    OfferUnavailable,
    PhoneRequired,
    SlotUnavailable,
)
from scheduler.models import Booking, BookingStatus, Service
from scheduler.requests import BookingRequest
from scheduler.tokens import Audience
from scheduler.waitlist import JoinRequest, Waitlist
from scheduler.waitlist_models import EntryStatus, OfferStatus, WaitlistOffer
from scheduler.waitlist_rules import OfferTerms, Wishes, offer_expiry
from tests.conftest import Clock, World
from web.container import Container

BERLIN_OFFSET = timedelta(hours=1)  # January
# Monday 6 January 2031, 08:00 in Berlin (tests/conftest.py's MONDAY); Tuesday's hours below.
TUESDAY_9 = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # 09:00 local
TUESDAY_930 = TUESDAY_9 + timedelta(minutes=30)
TUESDAY_14 = datetime(2031, 1, 7, 13, 0, tzinfo=UTC)  # 14:00 local


@pytest.fixture
def service(world: World) -> Service:
    """One advisor, open on Tuesday 09:00-10:00 and 14:00-14:30 only: three slots in the
    horizon, all booked at the start of each test."""
    service = world.service(horizon_days=7)
    world.advisor(
        [service],
        hours=[HoursSpec(1, time(9), time(10)), HoursSpec(1, time(14), time(14, 30))],
    )
    return service


@pytest.fixture
def waitlist(container: Container) -> Waitlist:
    return container.waitlist


def book(container: Container, service: Service, start: datetime, who: str = "x") -> str:
    placed = container.scheduler.book(
        BookingRequest(service.id, start, "video", "Booked Person", f"{who}@example.org")
    )
    assert placed.booking is not None
    return placed.booking.reference


def fully_booked(container: Container, service: Service) -> dict[datetime, str]:
    return {
        start: book(container, service, start, f"b{i}")
        for i, start in enumerate((TUESDAY_9, TUESDAY_930, TUESDAY_14))
    }


def join(waitlist: Waitlist, service: Service, n: int, **wishes: object) -> int:
    return waitlist.join(
        JoinRequest(
            service_id=service.id,
            name=f"Wartende {n}",
            email=f"w{n}@example.org",
            channel="video",
            **wishes,  # type: ignore[arg-type]
        )
    ).id


def offers(container: Container) -> list[WaitlistOffer]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(WaitlistOffer).order_by(WaitlistOffer.id)))


def mails(container: Container, kind: str) -> list[OutboxMessage]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def token_of(waitlist: Waitlist, offer: WaitlistOffer) -> str:
    with read_session(waitlist.scheduler.sessions) as session:
        return waitlist.offer_token(waitlist._offer_info(session, offer))


# -- the pure rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours_ahead", "expected"),
    [
        (24 * 7, timedelta(hours=24)),  # far ahead: the full lifetime
        (10, timedelta(hours=5)),  # sooner: half the time until the slot
        (3, timedelta(hours=1)),  # the minimum notice (2 h) comes first
        (2, None),  # within the minimum notice: no offer
        (2.4, None),  # too little time left to answer
    ],
)
def test_offer_expiry_is_shorter_when_the_slot_is_sooner(
    hours_ahead: float, expected: timedelta | None
) -> None:
    now = datetime(2031, 1, 6, 7, 0, tzinfo=UTC)
    start = now + timedelta(hours=hours_ahead)
    expires = offer_expiry(now, start, timedelta(hours=2), OfferTerms(shortest=timedelta(hours=1)))
    assert (expires - now if expires else None) == expected


def test_wishes_match_local_weekday_and_day_part() -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Berlin")
    assert Wishes().suit(TUESDAY_9, tz)
    assert Wishes(weekdays=[1]).suit(TUESDAY_9, tz)
    assert not Wishes(weekdays=[0, 2]).suit(TUESDAY_9, tz)
    assert Wishes(day_parts=["morning"]).suit(TUESDAY_9, tz)
    assert not Wishes(day_parts=["afternoon"]).suit(TUESDAY_9, tz)
    # 11:30 UTC is 12:30 in Berlin: afternoon there.
    assert Wishes(day_parts=["afternoon"]).suit(datetime(2031, 1, 7, 11, 30, tzinfo=UTC), tz)


# -- joining -------------------------------------------------------------------------------


def test_joining_gives_the_position_in_line(waitlist: Waitlist, service: Service) -> None:
    first = waitlist.join(JoinRequest(service.id, "A", "a@example.org", "video"))
    second = waitlist.join(JoinRequest(service.id, "B", "b@example.org", "phone", phone="0391 1"))
    assert (first.position, second.position) == (1, 2)
    assert waitlist.entry_for_token(waitlist.entry_token(second)).position == 2


def test_the_same_person_waits_only_once_per_service(waitlist: Waitlist, service: Service) -> None:
    waitlist.join(JoinRequest(service.id, "A", "a@example.org", "video"))
    with pytest.raises(AlreadyWaiting):
        waitlist.join(JoinRequest(service.id, "A", "A@Example.org", "video"))


def test_joining_by_phone_needs_a_number(waitlist: Waitlist, service: Service) -> None:
    with pytest.raises(PhoneRequired):
        waitlist.join(JoinRequest(service.id, "A", "a@example.org", "phone"))


def test_joining_for_a_channel_the_service_lacks_is_refused(
    waitlist: Waitlist, service: Service
) -> None:
    with pytest.raises(ChannelNotOffered):
        waitlist.join(JoinRequest(service.id, "A", "a@example.org", "in_person"))


def test_joining_writes_a_mail_with_the_leave_link(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    join(waitlist, service, 1)
    container.outbox.deliver_due()
    (mail,) = mails(container, "waitlist_joined")
    assert mail.text_body is not None
    assert "http://testserver/w/" in mail.text_body
    assert "Platz in der Warteliste: 1" in mail.text_body


def test_leaving_frees_the_place_and_the_next_moves_up(
    waitlist: Waitlist, service: Service
) -> None:
    first = waitlist.join(JoinRequest(service.id, "A", "a@example.org", "video"))
    second = waitlist.join(JoinRequest(service.id, "B", "b@example.org", "video"))
    left = waitlist.leave(waitlist.entry_token(first))
    assert left.status == EntryStatus.LEFT
    assert waitlist.leave(waitlist.entry_token(first)).status == EntryStatus.LEFT
    assert waitlist.entry_for_token(waitlist.entry_token(second)).position == 1


# -- the offer loop ------------------------------------------------------------------------


def test_nothing_is_offered_while_the_calendar_is_full(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    fully_booked(container, service)
    join(waitlist, service, 1)
    assert waitlist.run().offered == 0


def test_a_cancelled_slot_is_offered_to_the_first_in_line_and_held_for_them(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    booked = fully_booked(container, service)
    first, _ = join(waitlist, service, 1), join(waitlist, service, 2)
    container.scheduler.cancel(booked[TUESDAY_930])

    result = waitlist.run()

    assert result.offered == 1
    (offer,) = offers(container)
    assert (offer.entry_id, offer.start_at, offer.status) == (first, TUESDAY_930, "open")
    # Held: neither shown nor bookable by anybody else while the offer runs.
    assert container.scheduler.slots(service.id, TUESDAY_9.date(), TUESDAY_9.date()) == []
    with pytest.raises(SlotUnavailable):
        book(container, service, TUESDAY_930, "other")
    assert waitlist.run().offered == 0  # never to a second person at once


def test_the_offer_goes_to_the_first_whose_wishes_it_suits(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    booked = fully_booked(container, service)
    join(waitlist, service, 1, day_parts=["afternoon"])
    second = join(waitlist, service, 2, weekdays=[1], day_parts=["morning"])
    container.scheduler.cancel(booked[TUESDAY_9])

    waitlist.run()

    assert [o.entry_id for o in offers(container)] == [second]


def test_the_offer_mail_carries_the_offer_link(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    booked = fully_booked(container, service)
    join(waitlist, service, 1)
    container.scheduler.cancel(booked[TUESDAY_9])
    waitlist.run()
    container.outbox.deliver_due()

    (mail,) = mails(container, "waitlist_offer")
    assert mail.subject is not None
    assert mail.subject.startswith("Terminangebot")
    assert mail.text_body is not None
    assert "http://testserver/o/" in mail.text_body
    token = mail.text_body.split("http://testserver/o/")[1].split()[0]
    assert waitlist.offer_for_token(token).status == OfferStatus.OPEN


def test_accepting_turns_the_held_slot_into_a_confirmed_booking(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    booked = fully_booked(container, service)
    entry_id = join(waitlist, service, 1)
    container.scheduler.cancel(booked[TUESDAY_9])
    waitlist.run()
    (offer,) = offers(container)
    token = token_of(waitlist, offer)

    booking = waitlist.accept(token)

    assert (booking.status, booking.start, booking.email) == (
        BookingStatus.CONFIRMED,
        TUESDAY_9,
        "w1@example.org",
    )
    assert waitlist.accept(token).reference == booking.reference  # a second click
    assert waitlist.offer_for_token(token).status == OfferStatus.ACCEPTED
    with read_session(container.sessions) as session:
        entry_status = session.scalar(
            select(Booking.status).where(Booking.reference == booking.reference)
        )
    assert entry_status == BookingStatus.CONFIRMED
    container.outbox.deliver_due()
    confirmations = [m for m in mails(container, "confirmation") if m.booking_id == booking.id]
    assert len(confirmations) == 1
    assert confirmations[0].ics_method == "REQUEST"
    assert waitlist.entry_for_token(waitlist.entry_token(_entry(waitlist, entry_id))).status == (
        EntryStatus.BOOKED
    )


def _entry(waitlist: Waitlist, entry_id: int):  # type: ignore[no-untyped-def]
    from scheduler.waitlist_models import WaitlistEntry

    with read_session(waitlist.scheduler.sessions) as session:
        entry = session.get(WaitlistEntry, entry_id)
        assert entry is not None
        return waitlist._entry_info(session, entry)


def test_a_declined_offer_passes_to_the_next_and_the_first_keeps_the_place(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    booked = fully_booked(container, service)
    first, second = join(waitlist, service, 1), join(waitlist, service, 2)
    container.scheduler.cancel(booked[TUESDAY_9])
    waitlist.run()
    (offer,) = offers(container)

    declined = waitlist.decline(token_of(waitlist, offer))
    waitlist.run()

    assert declined.status == OfferStatus.DECLINED
    assert [(o.entry_id, o.status) for o in offers(container)] == [
        (first, "declined"),
        (second, "open"),
    ]
    assert _entry(waitlist, first).position == 1


def test_an_expired_offer_passes_on_with_a_mail_and_cannot_be_accepted(
    container: Container, waitlist: Waitlist, service: Service, clock: Clock
) -> None:
    booked = fully_booked(container, service)
    first, second = join(waitlist, service, 1), join(waitlist, service, 2)
    container.scheduler.cancel(booked[TUESDAY_14])
    waitlist.run()
    (offer,) = offers(container)
    token = token_of(waitlist, offer)
    assert offer.expires_at - clock.now == timedelta(hours=15)  # half of the 30 h to the slot

    clock.now = offer.expires_at
    assert waitlist.offer_for_token(token).status == OfferStatus.EXPIRED
    with pytest.raises(OfferUnavailable):
        waitlist.accept(token)
    result = waitlist.run()

    assert (result.expired, result.offered) == (1, 1)
    assert [(o.entry_id, o.status) for o in offers(container)] == [
        (first, "expired"),
        (second, "open"),
    ]
    assert len(mails(container, "waitlist_offer_expired")) == 1


def test_no_offer_for_a_slot_within_the_minimum_notice(
    container: Container, waitlist: Waitlist, service: Service, clock: Clock
) -> None:
    booked = fully_booked(container, service)
    join(waitlist, service, 1)
    container.scheduler.cancel(booked[TUESDAY_9])
    clock.now = TUESDAY_9 - timedelta(minutes=70)  # the service's notice is 60 minutes
    waitlist.run()
    # Only next week's Tuesday, which the horizon now reaches, is offered.
    assert [o.start_at for o in offers(container)] == [TUESDAY_9 + timedelta(days=7)]


def test_leaving_with_an_open_offer_frees_the_slot_for_the_next(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    booked = fully_booked(container, service)
    first, second = join(waitlist, service, 1), join(waitlist, service, 2)
    container.scheduler.cancel(booked[TUESDAY_9])
    waitlist.run()
    waitlist.leave(waitlist.entry_token(_entry(waitlist, first)))
    waitlist.run()
    assert [(o.entry_id, o.status) for o in offers(container)] == [
        (first, "declined"),
        (second, "open"),
    ]


def test_forged_and_foreign_tokens_are_refused(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    from scheduler.errors import TokenInvalid

    entry = _entry(waitlist, join(waitlist, service, 1))
    entry_token = waitlist.entry_token(entry)
    with pytest.raises(TokenInvalid):
        waitlist.offer_for_token(entry_token)  # an entry's link is no offer's
    with pytest.raises(TokenInvalid):
        waitlist.entry_for_token(entry_token[:-2] + "xx")
    staff = container.tokens.issue(
        Audience.MANAGE, "1", 1, container.scheduler.clock(), timedelta(hours=1)
    )
    with pytest.raises(TokenInvalid):
        waitlist.accept(staff)


# -- at once -------------------------------------------------------------------------------


def test_two_loops_at_once_offer_every_slot_to_exactly_one_person(
    container: Container, waitlist: Waitlist, service: Service
) -> None:
    booked = fully_booked(container, service)
    for n in range(6):
        join(waitlist, service, n)
    for reference in booked.values():
        container.scheduler.cancel(reference)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            barrier.wait()
            waitlist.run()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    made = [o for o in offers(container) if o.status == "open"]
    assert sorted(o.start_at for o in made) == [TUESDAY_9, TUESDAY_930, TUESDAY_14]
    assert len({o.entry_id for o in made}) == 3


def test_an_acceptance_and_the_expiry_at_once_end_one_way_only(
    container: Container, waitlist: Waitlist, service: Service, clock: Clock
) -> None:
    booked = fully_booked(container, service)
    join(waitlist, service, 1)
    container.scheduler.cancel(booked[TUESDAY_14])
    waitlist.run()
    (offer,) = offers(container)
    token = token_of(waitlist, offer)
    clock.now = offer.expires_at - timedelta(microseconds=1)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def accept() -> None:
        barrier.wait()
        try:
            waitlist.accept(token)
            outcomes.append("accepted")
        except OfferUnavailable:
            outcomes.append("refused")

    def expire() -> None:
        barrier.wait()
        clock.now = offer.expires_at
        waitlist.expire_due()

    threads = [threading.Thread(target=accept), threading.Thread(target=expire)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    (final,) = offers(container)
    assert final.status == ("accepted" if outcomes == ["accepted"] else "expired")
    with read_session(container.sessions) as session:
        statuses = list(
            session.scalars(select(Booking.status).where(Booking.start_at == TUESDAY_14))
        )
    expected = ["cancelled", "confirmed"] if final.status == "accepted" else ["cancelled"]
    assert sorted(statuses) == expected


def test_the_purge_deletes_ended_entries_after_the_retention_and_keeps_those_waiting(
    container: Container, waitlist: Waitlist, service: Service, clock: Clock
) -> None:
    left = _entry(waitlist, join(waitlist, service, 1))
    waiting = join(waitlist, service, 2)
    waitlist.leave(waitlist.entry_token(left))
    clock.advance(days=container.settings.retention_days, seconds=1)

    counts = container.retention.purge()

    assert (counts["waitlist_entries_deleted"], counts["waitlist_offers_deleted"]) == (1, 0)
    assert _entry(waitlist, waiting).status == EntryStatus.WAITING


def test_a_cancellation_and_new_hours_wake_the_offer_loop(
    container: Container, world: World, service: Service
) -> None:
    booked = fully_booked(container, service)
    worker = container.waitlist_worker
    worker._wake.clear()
    container.scheduler.cancel(booked[TUESDAY_9])
    assert worker._wake.is_set()

    worker._wake.clear()
    advisor = container.catalogue.advisors(world.admin)[0][0]
    container.catalogue.set_weekly_hours(world.admin, advisor.id, [HoursSpec(2, time(9), time(12))])
    assert worker._wake.is_set()
