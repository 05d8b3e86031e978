"""The statistics on a small week made by hand: each figure, the filters, the searches'
wait, and the figures unchanged by the retention purge (scheduler/statistics.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from statistics import median
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from scheduler.callbacks_models import CallbackAttempt, CallbackRequest, CallbackStatus
from scheduler.db import read_session, write_session
from scheduler.errors import InvalidRequest
from scheduler.models import Booking, BookingStatus
from scheduler.requests import BookingRequest
from scheduler.statistics import StatsQuery
from scheduler.statistics_models import CallbackTally, WaitlistTally
from scheduler.waitlist_models import EntryStatus, OfferStatus, WaitlistEntry, WaitlistOffer
from tests.conftest import MONDAY

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = StatsQuery(date(2031, 1, 6), date(2031, 1, 12))  # Monday 6 January is a holiday in ST
HOUR = timedelta(hours=1)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2031, 1, day), time(hour, minute), BERLIN)


def book(container, service, start: datetime, channel: str = "video", actor=None) -> Booking:
    request = BookingRequest(
        service_id=service.id,
        start=start,
        channel=channel,
        name="Erika Mustermann",
        email=f"erika{start.day}{start.hour}{start.minute}@example.org",
        phone="+49 391 1234567",
    )
    if actor is None:
        placed = container.scheduler.book(request)
    else:
        placed = container.desk.book(actor, request)
    assert placed.booking is not None
    with read_session(container.sessions) as session:
        return session.get_one(Booking, placed.booking.id)


@pytest.fixture
def week(container, world, clock):
    """One advisor of a 30-minute service, 9-12 and 13-16 on weekdays; seven bookings made
    on Monday morning, three of them cancelled by the citizen, staff and an absence."""
    service = world.service(channels=["video", "phone"])
    advisor = world.advisor([service])
    bookings = {
        "completed": book(container, service, local(7, 9)),
        "no_show": book(container, service, local(7, 9, 30), channel="phone"),
        "hotline": book(container, service, local(7, 10), actor=world.admin),
        "by_citizen": book(container, service, local(9, 9)),
        "by_staff": book(container, service, local(9, 10), actor=world.admin),
        "by_office": book(container, service, local(8, 9)),
        "confirmed": book(container, service, local(10, 9)),
    }
    container.scheduler.cancel(bookings["by_citizen"].reference)
    container.desk.cancel(world.admin, bookings["by_staff"].reference)
    container.catalogue.add_absence(world.admin, advisor.id, local(8, 9), local(8, 10), "Arzt")
    clock.now = local(11, 12).astimezone(UTC)
    container.desk.set_outcome(
        world.admin, bookings["completed"].reference, BookingStatus.COMPLETED
    )
    container.desk.set_outcome(world.admin, bookings["hotline"].reference, BookingStatus.COMPLETED)
    container.desk.set_outcome(world.admin, bookings["no_show"].reference, BookingStatus.NO_SHOW)
    _callbacks_and_waitlist(container, service, advisor, bookings["completed"].id)
    return service, advisor, bookings


def _callbacks_and_waitlist(container, service, advisor, booking_id: int) -> None:
    """Three callback requests and three waiting-list entries, written as their code would."""
    with write_session(container.sessions) as session:

        def request(n: int, created: datetime, **values) -> CallbackRequest:
            row = CallbackRequest(
                reference=f"CB00-000{n}",
                service_id=service.id,
                status=values.pop("status", CallbackStatus.CLOSED),
                name="Max",
                phone="0391 5400",
                phone_key="3915400",
                windows=[],
                due_at=created,
                created_at=created,
                closed_at=created + 6 * HOUR,
                **values,
            )
            session.add(row)
            session.flush()
            return row

        first = request(1, MONDAY, status=CallbackStatus.BOOKED, booking_id=booking_id)
        second = request(2, MONDAY + HOUR)
        request(3, MONDAY + 2 * HOUR, status=CallbackStatus.WITHDRAWN)
        for callback, after, outcome in (
            (first, 2, "not_reached"),
            (first, 5, "reached"),
            (second, 1, "wrong_number"),
        ):
            session.add(
                CallbackAttempt(
                    callback_id=callback.id, outcome=outcome, at=callback.created_at + after * HOUR
                )
            )

        def entry(channel: str, created: datetime, status: str) -> WaitlistEntry:
            row = WaitlistEntry(
                service_id=service.id,
                name="Max",
                email="max@example.org",
                email_key="max@example.org",
                channel=channel,
                status=status,
                created_at=created,
                updated_at=created + 3 * timedelta(days=1),
            )
            session.add(row)
            session.flush()
            return row

        offered = entry("video", MONDAY, EntryStatus.BOOKED)
        entry("phone", MONDAY + HOUR, EntryStatus.LEFT)
        entry("video", MONDAY, EntryStatus.WAITING)
        for days, status in ((1, OfferStatus.EXPIRED), (2, OfferStatus.ACCEPTED)):
            at = MONDAY + timedelta(days=days)
            session.add(
                WaitlistOffer(
                    entry_id=offered.id,
                    service_id=service.id,
                    advisor_id=advisor.id,
                    channel="video",
                    start_at=at + 4 * timedelta(days=1),
                    end_at=at + 4 * timedelta(days=1) + timedelta(minutes=30),
                    expires_at=at + 12 * HOUR,
                    status=status,
                    created_at=at,
                    decided_at=at + HOUR,
                )
            )


def waits(bookings: dict[str, Booking]) -> list[float]:
    return [(b.start_at - MONDAY) / timedelta(days=1) for b in bookings.values()]


def test_each_figure_of_a_hand_made_week(container, week):
    _, _, bookings = week
    report = container.statistics.report(WEEK)
    totals = report.totals

    assert (totals["bookings"], totals["confirmed"], totals["completed"]) == (7, 1, 2)
    assert (totals["no_shows"], totals["cancellations"]) == (1, 3)
    assert totals["cancelled_by"] == {"citizen": 1, "staff": 1, "office": 1, "unknown": 0}
    assert totals["no_show_rate"] == 1 / 3
    assert (totals["online_bookings"], totals["hotline_bookings"]) == (5, 2)
    assert totals["waiting_days_median"] == median(waits(bookings))
    assert totals["waiting_days_p90"] == max(waits(bookings))  # the 7th of 7 (nearest rank)
    # Four working days (the 6th is Epiphany) of 12 slots, less the hour of the absence.
    assert (totals["slots_offered"], totals["slots_booked"]) == (46, 4)
    assert totals["utilisation"] == 4 / 46
    assert totals["callbacks"] == {
        "requests": 3,
        "attempted": 2,
        "reached": 1,
        "reach_rate": 0.5,
        "booked": 1,
        "booked_rate": 1 / 3,
        "first_attempt_hours_mean": 1.5,
    }
    # The citizen whose appointment the absence cancelled was put on the list, first.
    assert totals["waitlist"] == {
        "entries": 4,
        "offered": 1,
        "offer_days_mean": 1.0,
        "offers": 2,
        "accepted": 1,
        "acceptance_rate": 0.5,
    }
    [only] = report.weeks
    assert (only.label, only.monday, only.figures) == ("2031-W02", WEEK.start, totals)
    assert list(only.services) == [week[0].id]


def test_the_filters_by_channel_service_and_team(container, world, week):
    service = week[0]
    phone = container.statistics.report(StatsQuery(WEEK.start, WEEK.end, channel="phone")).totals
    assert (phone["bookings"], phone["no_shows"], phone["no_show_rate"]) == (1, 1, 1.0)
    assert phone["callbacks"]["requests"] == 3  # callbacks are calls
    assert phone["waitlist"]["entries"] == 1
    video = container.statistics.report(StatsQuery(WEEK.start, WEEK.end, channel="video")).totals
    assert (video["bookings"], video["callbacks"]["requests"], video["waitlist"]["entries"]) == (
        6,
        0,
        3,
    )

    other = world.service(name="Andere")
    none = container.statistics.report(StatsQuery(WEEK.start, WEEK.end, service_id=other.id))
    assert (none.totals["bookings"], none.totals["slots_offered"], none.weeks) == (0, 0, [])
    one = container.statistics.report(StatsQuery(WEEK.start, WEEK.end, service_id=service.id))
    assert one.totals == container.statistics.report(WEEK).totals
    assert one.weeks[0].services == {}
    team = container.catalogue.create_team(world.admin, "Team Nord", None)
    assert (
        container.statistics.report(StatsQuery(WEEK.start, WEEK.end, team_id=team.id)).weeks == []
    )


def test_bookings_belong_to_the_week_of_their_appointment(container, week):
    days = StatsQuery(date(2031, 1, 9), date(2031, 1, 10))  # Thursday and Friday
    totals = container.statistics.report(days).totals
    assert (totals["bookings"], totals["cancellations"], totals["slots_offered"]) == (3, 2, 24)
    assert totals["callbacks"]["requests"] == 0  # made on Monday


def test_the_wait_a_search_showed_is_counted_by_whole_days(container, world, clock):
    service = world.service()
    empty = world.service(name="Ohne Beratende")
    world.advisor([service])
    clock.now = MONDAY  # 08:00 on a holiday: the first free slot is Tuesday 09:00, 25 h ahead
    today = MONDAY.astimezone(BERLIN).date()
    for _ in range(3):
        container.scheduler.slots(service.id, today, today + timedelta(days=13))
    container.scheduler.slots(service.id, today, today + timedelta(days=13), "video")
    container.scheduler.slots(service.id, today, today)  # one day picked: not a search for the next
    container.scheduler.slots(service.id, today + timedelta(days=1), today + timedelta(days=7))
    container.scheduler.slots(empty.id, today, today + timedelta(days=13))
    book(container, service, local(7, 9))
    for hour in range(9, 12):
        for minute in (0, 30):
            if (hour, minute) != (9, 0):
                book(container, service, local(7, hour, minute))
    for hour in range(13, 16):
        for minute in (0, 30):
            book(container, service, local(7, hour, minute))
    container.scheduler.slots(service.id, today, today + timedelta(days=13))  # Wednesday 09:00

    totals = container.statistics.report(WEEK).totals
    assert (totals["searches"], totals["searches_without_slot"]) == (6, 1)
    assert totals["search_wait_days_median"] == 1.0  # 1, 1, 1, 1, 2
    video = container.statistics.report(StatsQuery(WEEK.start, WEEK.end, channel="video"))
    assert (video.totals["searches"], video.totals["search_wait_days_median"]) == (1, 1.0)
    alone = container.statistics.report(StatsQuery(WEEK.start, WEEK.end, service_id=empty.id))
    assert (alone.totals["searches_without_slot"], alone.totals["search_wait_days_median"]) == (
        1,
        None,
    )


def test_the_figures_survive_the_retention_purge(container, week, clock):
    before = container.statistics.report(WEEK)

    clock.now = MONDAY + timedelta(days=3650)
    counts = container.retention.purge()

    assert counts["bookings_anonymised"] == 7
    assert counts["callback_attempts_deleted"] == 3
    assert counts["callback_requests_deleted"] == 1  # the one never called; the others above
    assert counts["waitlist_offers_deleted"] == 2
    assert counts["waitlist_entries_deleted"] == 1  # the two waiting stay
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(CallbackRequest)) == 0
        assert session.scalar(select(func.count()).select_from(WaitlistEntry)) == 2
        assert session.scalar(select(func.sum(CallbackTally.requests))) == 3
        assert session.scalar(select(func.sum(WaitlistTally.entries))) == 2
    after = container.statistics.report(WEEK)
    assert after == before
    assert container.retention.purge()["callback_requests_deleted"] == 0
    assert container.statistics.report(WEEK) == before


def test_the_range_is_checked(container):
    with pytest.raises(InvalidRequest) as reversed_range:
        StatsQuery(date(2031, 1, 6), date(2031, 1, 5))
    assert reversed_range.value.code == "range_reversed"
    with pytest.raises(InvalidRequest) as too_long:
        StatsQuery(date(2031, 1, 1), date(2032, 1, 2))
    assert too_long.value.code == "range_too_long"
    StatsQuery(date(2031, 1, 1), date(2032, 1, 1))  # 366 days
    with pytest.raises(InvalidRequest):
        StatsQuery(date(2031, 1, 1), date(2031, 1, 2), channel="fax")
