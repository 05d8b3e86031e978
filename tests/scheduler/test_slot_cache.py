"""A service's free times kept for a moment (scheduler/slot_cache.py): one computation serves
the crowd of a release, and no answer outlives a change it should show."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from scheduler.availability import Slot
from scheduler.db import write_session
from scheduler.errors import ChannelNotOffered, OutsideBookingWindow, SlotUnavailable
from scheduler.models import BookingStatus, Staff
from scheduler.placement import new_booking
from scheduler.requests import BookingRequest
from scheduler.slot_cache import PATIENCE_SECONDS, SlotCache

TUESDAY = date(2031, 1, 7)
NOW = datetime(2031, 1, 6, 7, 0, tzinfo=UTC)
KEY = (1, None, TUESDAY, TUESDAY)
OTHER = (2, None, TUESDAY, TUESDAY)


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def slot(hour: int) -> Slot:
    start = datetime(2031, 1, 7, hour, tzinfo=UTC)
    return Slot(start, start + timedelta(minutes=30), (1,))


def request(service_id: int, start: datetime, channel: str) -> BookingRequest:
    return BookingRequest(
        service_id=service_id,
        start=start,
        channel=channel,
        name="Erika Mustermann",
        email="erika@example.org",
    )


def written(container) -> None:
    """A unit of work of this process that commits."""
    with write_session(container.sessions):
        pass


@contextmanager
def computing(cache: SlotCache, answer: list[Slot]) -> Iterator[list[list[Slot]]]:
    """Another request computing `KEY` anew while the block runs; what it got, after."""
    entered, release = threading.Event(), threading.Event()
    got: list[list[Slot]] = []

    def slow() -> list[Slot]:
        entered.set()
        release.wait(5)
        return answer

    thread = threading.Thread(target=lambda: got.append(cache.get(KEY, NOW, slow)))
    thread.start()
    assert entered.wait(5)
    try:
        yield got
    finally:
        release.set()
        thread.join(5)


def counting(answer: list[Slot]):
    calls: list[int] = []

    def compute() -> list[Slot]:
        calls.append(1)
        return list(answer)

    return compute, calls


def test_the_same_search_is_computed_once_while_nothing_changes():
    cache = SlotCache(1.0, Monotonic())
    compute, calls = counting([slot(8)])
    first = cache.get(KEY, NOW, compute)
    assert cache.get(KEY, NOW, compute) is first
    assert cache.get(OTHER, NOW, compute) == first
    assert len(calls) == 2


def test_a_write_in_this_process_makes_the_next_search_compute_again(container):
    cache = SlotCache(1.0, Monotonic())
    compute, calls = counting([slot(8)])
    cache.get(KEY, NOW, compute)
    written(container)
    cache.get(KEY, NOW, compute)
    assert len(calls) == 2


def test_an_answer_lives_at_most_its_seconds_and_as_long_on_the_office_clock():
    monotonic = Monotonic()
    cache = SlotCache(1.0, monotonic)
    compute, calls = counting([slot(8)])
    cache.get(KEY, NOW, compute)
    monotonic.now += 0.9
    cache.get(KEY, NOW + timedelta(seconds=0.9), compute)
    assert len(calls) == 1
    monotonic.now += 0.2
    cache.get(KEY, NOW, compute)
    assert len(calls) == 2
    cache.get(KEY, NOW + timedelta(seconds=1), compute)  # the office clock moved on
    cache.get(KEY, NOW - timedelta(seconds=1), compute)  # ... or was set back
    assert len(calls) == 4


def test_while_one_request_computes_anew_the_others_get_the_answer_before(container):
    cache = SlotCache(1.0, Monotonic())
    before = cache.get(KEY, NOW, lambda: [slot(8)])
    written(container)
    with computing(cache, [slot(9)]) as fresh:
        assert cache.get(KEY, NOW, lambda: [slot(10)]) is before
    assert fresh == [[slot(9)]]
    assert cache.get(KEY, NOW, lambda: [slot(10)]) == [slot(9)]


def test_a_failed_computation_is_not_kept_and_the_next_request_computes():
    cache = SlotCache(1.0, Monotonic())

    def failing() -> list[Slot]:
        raise LookupError("no such service")

    for _ in range(2):
        try:
            cache.get(KEY, NOW, failing)
        except LookupError:
            pass
        else:
            raise AssertionError("the error reached nobody")
    assert cache.get(KEY, NOW, lambda: [slot(8)]) == [slot(8)]


def test_no_keeping_with_zero_seconds():
    cache = SlotCache(0, Monotonic())
    compute, calls = counting([slot(8)])
    cache.get(KEY, NOW, compute)
    cache.get(KEY, NOW, compute)
    assert len(calls) == 2


def test_a_booked_time_disappears_from_the_next_search_at_once(container, world):
    service = world.service()
    world.advisor([service], password=None)
    scheduler = container.scheduler
    free = scheduler.slots(service.id, TUESDAY, TUESDAY)
    scheduler.book(request(service.id, free[0].start, "video"))
    assert [s.start for s in scheduler.slots(service.id, TUESDAY, TUESDAY)] == [
        s.start for s in free[1:]
    ]


def test_a_change_by_another_process_shows_once_the_answer_has_lived(container, world):
    service = world.service()
    advisor = world.advisor([service], password=None)
    scheduler = container.scheduler
    monotonic = Monotonic()
    scheduler.free_times = SlotCache(1.0, monotonic)
    assert scheduler.slots(service.id, TUESDAY, TUESDAY)
    # Another process deactivates the advisor: nothing of it is counted in this one.
    with container.sessions.kw["bind"].begin() as connection:
        connection.execute(update(Staff).where(Staff.id == advisor.id).values(active=False))
    assert scheduler.slots(service.id, TUESDAY, TUESDAY)
    monotonic.now += 1.0
    assert scheduler.slots(service.id, TUESDAY, TUESDAY) == []


def test_a_time_offered_and_taken_since_is_known_taken(container, world):
    service = world.service()
    world.advisor([service], password=None)
    scheduler = container.scheduler
    free = scheduler.slots(service.id, TUESDAY, TUESDAY)
    first, second = free[0].start, free[1].start
    assert not scheduler.known_taken(service.id, "video", first)
    scheduler.book(request(service.id, first, "video"))
    scheduler.slots(service.id, TUESDAY, TUESDAY)  # the crowd searches again
    assert scheduler.known_taken(service.id, "video", first)
    assert scheduler.known_taken(service.id, "video", first.astimezone(ZoneInfo("Asia/Tokyo")))
    assert not scheduler.known_taken(service.id, "video", second)
    assert not scheduler.known_taken(service.id + 1, "video", first)


def test_a_taken_time_is_known_only_from_fresh_answers_of_its_day_and_channel(container):
    monotonic = Monotonic()
    cache = SlotCache(1.0, monotonic)
    video = (1, "video", TUESDAY, TUESDAY)
    cache.get(video, NOW, lambda: [slot(8), slot(9)])
    written(container)
    cache.get(video, NOW, lambda: [slot(9)])
    assert cache.gone(1, "video", slot(8).start, TUESDAY, NOW)
    assert not cache.gone(1, "phone", slot(8).start, TUESDAY, NOW)  # asked for video only
    assert not cache.gone(1, "video", slot(8).start, TUESDAY + timedelta(days=1), NOW)
    monotonic.now += 1.0
    assert not cache.gone(1, "video", slot(8).start, TUESDAY, NOW)  # the answer has lived


def test_after_a_pause_in_the_searches_only_the_new_answer_counts():
    monotonic = Monotonic()
    cache = SlotCache(1.0, monotonic)
    key = (1, None, TUESDAY, TUESDAY)
    cache.get(key, NOW, lambda: [slot(8), slot(9)])
    monotonic.now += 61
    cache.get(key, NOW, lambda: [slot(9)])
    assert not cache.gone(1, "video", slot(8).start, TUESDAY, NOW)


def test_an_answer_that_found_nothing_is_not_served_once_something_was_written(container):
    """When the slots are released, 'nothing free' a moment old would send people away."""
    cache = SlotCache(1.0, Monotonic())
    cache.get(KEY, NOW, list)
    written(container)
    with computing(cache, [slot(9)]):
        assert cache.get(KEY, NOW, lambda: [slot(9)]) == [slot(9)]


def test_an_answer_is_as_old_as_its_reads():
    monotonic = Monotonic()
    cache = SlotCache(1.0, monotonic)
    calls: list[int] = []

    def slow() -> list[Slot]:
        calls.append(1)
        monotonic.now += 1.5  # an overloaded server: the reads took longer than the lifetime
        return [slot(8)]

    cache.get(KEY, NOW, slow)
    cache.get(KEY, NOW, slow)
    assert len(calls) == 2


def test_while_one_computes_the_others_wait_no_longer_than_their_patience(container):
    monotonic = Monotonic()
    cache = SlotCache(1.0, monotonic)
    cache.get(KEY, NOW, lambda: [slot(8)])
    written(container)
    with computing(cache, [slot(9)]):
        monotonic.now += PATIENCE_SECONDS - 0.1
        assert cache.kept(KEY, NOW) == [slot(8)]
        monotonic.now += 0.2
        assert cache.kept(KEY, NOW) is None


def test_a_time_gone_for_the_minimum_notice_is_not_known_taken(container, world, clock):
    # The full check refuses it as too soon (422), not as taken (409).
    service = world.service(min_notice_minutes=60)
    world.advisor([service], password=None)
    scheduler = container.scheduler
    scheduler.free_times = SlotCache(120.0)
    first = scheduler.slots(service.id, TUESDAY, TUESDAY)[0].start
    clock.now = first - timedelta(minutes=60, seconds=20)
    assert scheduler.slots(service.id, TUESDAY, TUESDAY)[0].start == first
    clock.advance(seconds=40)
    written(container)  # the next search computes anew
    assert first not in [s.start for s in scheduler.slots(service.id, TUESDAY, TUESDAY)]

    assert not scheduler.known_taken(service.id, "video", first)
    with pytest.raises(OutsideBookingWindow):
        scheduler.book(request(service.id, first, "video"))


def test_a_taken_time_is_not_known_taken_for_a_channel_the_service_lacks(container, world):
    service = world.service(channels=["video"])
    world.advisor([service], password=None)
    scheduler = container.scheduler
    first = scheduler.slots(service.id, TUESDAY, TUESDAY)[0].start
    scheduler.book(request(service.id, first, "video"))
    scheduler.slots(service.id, TUESDAY, TUESDAY)

    assert scheduler.known_taken(service.id, "video", first)
    assert not scheduler.known_taken(service.id, "phone", first)
    with pytest.raises(ChannelNotOffered):
        scheduler.book(request(service.id, first, "phone"))


def test_a_time_refused_goes_from_every_answer_of_its_service():
    cache = SlotCache(1.0, Monotonic())
    video = (1, "video", TUESDAY, TUESDAY)
    for key in (KEY, video, OTHER):
        cache.get(key, NOW, lambda: [slot(8), slot(9)])
    cache.taken(1, slot(8).start)
    assert cache.kept(KEY, NOW) == cache.kept(video, NOW) == [slot(9)]
    assert cache.kept(OTHER, NOW) == [slot(8), slot(9)]  # another service


def test_an_answer_whose_reads_began_before_a_time_was_taken_is_kept_without_it(container):
    monotonic = Monotonic()
    cache = SlotCache(1.0, monotonic)
    cache.get(KEY, NOW, lambda: [slot(8)])
    written(container)
    with computing(cache, [slot(8), slot(9)]) as fresh:
        monotonic.now += 0.1
        cache.taken(1, slot(8).start)  # while the reads were under way
    assert fresh == [[slot(8), slot(9)]]  # what that request asked for
    assert cache.kept(KEY, NOW) == [slot(9)]  # what everybody after it gets
    monotonic.now += PATIENCE_SECONDS + 1
    cache.get(KEY, NOW, lambda: [slot(8), slot(9)])  # reads begun long after: as they are
    assert cache.kept(KEY, NOW) == [slot(8), slot(9)]


def test_a_time_the_database_refused_is_offered_no_more(container, world):
    service = world.service()
    advisor = world.advisor([service], password=None)
    scheduler = container.scheduler
    scheduler.free_times = SlotCache(60.0, Monotonic())
    first = scheduler.slots(service.id, TUESDAY, TUESDAY)[0].start
    # Another process books it: nothing of it is counted in this one.
    with Session(container.sessions.kw["bind"]) as session, session.begin():
        taken = new_booking(service, advisor.id, "video", first, BookingStatus.CONFIRMED)
        taken.reference, taken.name = "OTHR-PROC", "Max Mustermann"
        session.add(taken)
    assert first in [s.start for s in scheduler.slots(service.id, TUESDAY, TUESDAY)]
    assert not scheduler.known_taken(service.id, "video", first)

    with pytest.raises(SlotUnavailable):
        scheduler.book(request(service.id, first, "video"))
    assert first not in [s.start for s in scheduler.slots(service.id, TUESDAY, TUESDAY)]
    assert scheduler.known_taken(service.id, "video", first)  # the next: without reading
