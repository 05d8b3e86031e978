"""The pure slot search: weekly grid, taken time with buffers, absences, closures, DST."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.naive_slots import find_slots_naive
from scheduler.availability import (
    AdvisorCalendar,
    Slot,
    SlotRules,
    WeeklyInterval,
    find_slots,
    free_advisors_at,
    is_on_grid,
    last_bookable_day,
)

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)  # before every day used below; horizon 365 days
MON = date(2026, 6, 15)  # a Monday in summer time (+02:00)
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=n) for n in range(1, 7))
SPRING_FORWARD = date(2026, 3, 29)  # Sunday, 02:00 CET -> 03:00 CEST
FALL_BACK = date(2026, 10, 25)  # Sunday, 03:00 CEST -> 02:00 CET
WORKWEEK = ("08:00-12:00", "13:00-16:00")


def hm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def weekly(weekdays: int | Sequence[int], *spans: str) -> list[WeeklyInterval]:
    days = [weekdays] if isinstance(weekdays, int) else list(weekdays)
    return [
        WeeklyInterval(day, hm(span.split("-")[0]), hm(span.split("-")[1]))
        for day in days
        for span in spans
    ]


def local(day: date, text: str, *, second: int = 0, microsecond: int = 0) -> datetime:
    """An aware Europe/Berlin datetime (first occurrence of an ambiguous time)."""
    return datetime.combine(day, hm(text).replace(second=second, microsecond=microsecond), TZ)


def span(day: date, start: str, end: str) -> tuple[datetime, datetime]:
    return local(day, start), local(day, end)


def wall(slots: Sequence[Slot]) -> list[str]:
    return [slot.start.astimezone(TZ).strftime("%H:%M") for slot in slots]


def days_of(slots: Sequence[Slot]) -> list[date]:
    return sorted({slot.start.astimezone(TZ).date() for slot in slots})


def offsets(slots: Sequence[Slot]) -> list[str]:
    return [slot.start.astimezone(TZ).isoformat()[-6:] for slot in slots]


def search(
    rules: SlotRules,
    calendars: Sequence[AdvisorCalendar],
    first_day: date,
    last_day: date | None = None,
    *,
    now: datetime = NOW,
    closed_days: frozenset[date] = frozenset(),
) -> list[Slot]:
    return find_slots(
        rules,
        calendars,
        first_day,
        first_day if last_day is None else last_day,
        now=now,
        tz=TZ,
        closed_days=closed_days,
    )


def advisor(advisor_id: int = 1, *spans: str, weekdays: int | Sequence[int] = 0, **kwargs):
    return AdvisorCalendar(advisor_id, weekly(weekdays, *(spans or ("08:00-12:00",))), **kwargs)


# --- weekly hours --------------------------------------------------------------------------


def test_slots_lie_inside_weekly_hours():
    slots = search(SlotRules(30), [advisor(1, "08:00-10:00")], MON)
    assert wall(slots) == ["08:00", "08:30", "09:00", "09:30"]
    assert slots[0].start == local(MON, "08:00")
    assert slots[-1].end == local(MON, "10:00")


def test_slot_end_is_start_plus_duration_and_results_are_utc():
    slots = search(SlotRules(25, buffer=5), [advisor(1, "08:00-10:00")], MON)
    assert slots
    assert all(slot.end - slot.start == timedelta(minutes=25) for slot in slots)
    assert all(slot.start.utcoffset() == timedelta(0) for slot in slots)


def test_lunch_break_splits_the_day_into_two_runs_of_slots():
    slots = search(SlotRules(60), [advisor(1, *WORKWEEK)], MON)
    assert wall(slots) == ["08:00", "09:00", "10:00", "11:00", "13:00", "14:00", "15:00"]


def test_interval_shorter_than_duration_gives_nothing():
    assert search(SlotRules(30), [advisor(1, "08:00-08:20")], MON) == []


def test_part_timer_days_without_hours_give_nothing():
    part_timer = advisor(1, *WORKWEEK, weekdays=(0, 2))  # Monday and Wednesday only
    slots = search(SlotRules(30), [part_timer], MON, SUN)
    assert days_of(slots) == [MON, WED]


def test_weekend_without_hours_gives_nothing():
    full_timer = advisor(1, *WORKWEEK, weekdays=range(5))
    assert search(SlotRules(30), [full_timer], SAT, SUN) == []


def test_first_day_after_last_day_gives_nothing():
    assert search(SlotRules(30), [advisor(1, weekdays=range(7))], TUE, MON) == []


def test_no_calendars_give_nothing():
    assert search(SlotRules(30), [], MON, SUN) == []


# --- grid ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (SlotRules(30), ["08:00", "08:30", "09:00", "09:30"]),
        (SlotRules(30, buffer=10), ["08:00", "08:40", "09:20"]),
        (SlotRules(45, buffer=15), ["08:00", "09:00"]),
        (SlotRules(120), ["08:00"]),
        (
            SlotRules(30, buffer=10, step=15),
            ["08:00", "08:15", "08:30", "08:45", "09:00", "09:15", "09:30"],
        ),
        (SlotRules(30, step=60), ["08:00", "09:00"]),
        (SlotRules(50, step=20), ["08:00", "08:20", "08:40", "09:00"]),
    ],
    ids=[
        "default-step-is-duration",
        "default-step-is-duration-plus-buffer",
        "default-step-hourly",
        "duration-fills-interval",
        "explicit-step-shorter-than-duration",
        "explicit-step-longer-than-duration",
        "explicit-step-uneven",
    ],
)
def test_grid_is_interval_start_plus_multiple_of_step(rules, expected):
    assert wall(search(rules, [advisor(1, "08:00-10:00")], MON)) == expected


def test_grid_is_anchored_at_interval_start_not_at_the_full_hour():
    slots = search(SlotRules(30), [advisor(1, "08:10-10:00")], MON)
    assert wall(slots) == ["08:10", "08:40", "09:10"]


def test_each_interval_anchors_its_own_grid():
    slots = search(SlotRules(20), [advisor(1, "08:00-09:00", "09:10-10:00")], MON)
    assert wall(slots) == ["08:00", "08:20", "08:40", "09:10", "09:30"]


def test_overlapping_weekly_intervals_of_one_advisor_list_it_once_per_start():
    slots = search(SlotRules(30), [advisor(7, "08:00-10:00", "09:00-11:00")], MON)
    assert wall(slots) == ["08:00", "08:30", "09:00", "09:30", "10:00", "10:30"]
    assert all(slot.advisor_ids == (7,) for slot in slots)


# --- taken time and buffers ----------------------------------------------------------------

# 30 min + 10 min buffer on a 20-minute grid, 08:00-12:00: starts 08:00, 08:20, ..., 11:20.
BUFFERED = SlotRules(30, buffer=10, step=20)
BUFFERED_STARTS = [f"{m // 60:02d}:{m % 60:02d}" for m in range(8 * 60, 11 * 60 + 21, 20)]


@pytest.mark.parametrize(
    ("taken", "blocked"),
    [
        (("10:00", "10:40"), ["09:40", "10:00", "10:20"]),
        (("10:00", "10:01"), ["09:40", "10:00"]),
        (("09:59", "10:00"), ["09:20", "09:40"]),
        (("10:05", "10:15"), ["09:40", "10:00"]),
        (("07:00", "08:00"), []),
        (("07:00", "08:01"), ["08:00"]),
        (("12:00", "13:00"), []),
        (("11:59", "13:00"), ["11:20"]),
        (("06:00", "18:00"), BUFFERED_STARTS),
    ],
    ids=[
        "booking-with-buffer",
        "one-minute-at-a-start",
        "one-minute-before-a-start",
        "inside-one-slot",
        "adjacent-before-hours",
        "into-first-slot",
        "adjacent-to-last-buffer",
        "into-last-buffer",
        "whole-day",
    ],
)
def test_slot_never_overlaps_booking_plus_buffer(taken, blocked):
    calendar = advisor(1, taken=[span(MON, *taken)])
    starts = wall(search(BUFFERED, [calendar], MON))
    assert starts == [start for start in BUFFERED_STARTS if start not in blocked]


def test_slot_whose_buffer_ends_where_a_booking_starts_is_free():
    calendar = advisor(1, taken=[span(MON, "10:00", "10:40")])
    assert "09:20" in wall(search(BUFFERED, [calendar], MON))  # occupies 09:20-10:00


def test_slot_starting_where_a_booking_ends_is_free():
    calendar = advisor(1, taken=[span(MON, "09:20", "10:00")])
    assert "10:00" in wall(search(BUFFERED, [calendar], MON))


def test_overlapping_and_unsorted_taken_ranges_block_their_union():
    taken = [span(MON, "10:30", "11:00"), span(MON, "09:00", "10:00"), span(MON, "09:30", "10:30")]
    starts = wall(search(SlotRules(30), [advisor(1, taken=taken)], MON))
    assert starts == ["08:00", "08:30", "11:00", "11:30"]


def test_taken_range_ending_a_fraction_of_a_second_into_a_slot_blocks_it():
    taken = [(local(MON, "09:00"), local(MON, "10:00", microsecond=500_000))]
    starts = wall(search(SlotRules(30), [advisor(1, taken=taken)], MON))
    assert starts == ["08:00", "08:30", "10:30", "11:00", "11:30"]


def test_taken_time_of_one_advisor_does_not_block_another():
    busy = advisor(1, taken=[span(MON, "08:00", "12:00")])
    slots = search(SlotRules(60), [busy, advisor(2)], MON)
    assert [slot.advisor_ids for slot in slots] == [(2,)] * 4


# --- absences ------------------------------------------------------------------------------


def test_absence_removes_only_overlapping_slots():
    calendar = advisor(1, absences=[span(MON, "09:15", "10:00")])
    starts = wall(search(SlotRules(30), [calendar], MON))
    assert starts == ["08:00", "08:30", "10:00", "10:30", "11:00", "11:30"]


def test_whole_day_absence_removes_only_that_day():
    calendar = advisor(1, weekdays=range(5), absences=[(local(TUE, "00:00"), local(WED, "00:00"))])
    assert days_of(search(SlotRules(30), [calendar], MON, WED)) == [MON, WED]


def test_absence_over_several_days_removes_all_of_them():
    calendar = advisor(1, weekdays=range(5), absences=[(local(TUE, "12:00"), local(THU, "10:00"))])
    slots = search(SlotRules(60), [calendar], MON, FRI)
    assert days_of(slots) == [MON, TUE, THU, FRI]
    tuesday_and_thursday = [s for s in slots if s.start.astimezone(TZ).date() in (TUE, THU)]
    assert wall(tuesday_and_thursday) == ["08:00", "09:00", "10:00", "11:00", "10:00", "11:00"]


def test_buffer_may_extend_into_an_absence():
    calendar = advisor(1, absences=[span(MON, "10:00", "11:00")])
    starts = wall(search(SlotRules(30, buffer=10, step=30), [calendar], MON))
    assert "09:30" in starts  # the appointment ends at 10:00, its buffer reaches 10:10
    assert "10:00" not in starts
    assert "10:30" not in starts
    assert "11:00" in starts


def test_buffer_may_extend_past_the_end_of_weekly_hours():
    slots = search(SlotRules(30, buffer=10, step=30), [advisor(1, "08:00-09:00")], MON)
    assert wall(slots) == ["08:00", "08:30"]
    assert slots[-1].end == local(MON, "09:00")


def test_absence_of_one_advisor_does_not_remove_another():
    away = advisor(1, absences=[span(MON, "00:00", "23:59")])
    slots = search(SlotRules(60), [away, advisor(2)], MON)
    assert [slot.advisor_ids for slot in slots] == [(2,)] * 4


# --- closed days, notice, horizon ----------------------------------------------------------


def test_closed_day_gives_no_slots():
    calendar = advisor(1, weekdays=range(5))
    slots = search(SlotRules(30), [calendar], MON, FRI, closed_days=frozenset({WED}))
    assert days_of(slots) == [MON, TUE, THU, FRI]


def test_closed_days_outside_the_range_change_nothing():
    calendar = advisor(1, weekdays=range(5))
    closed = frozenset({MON - timedelta(days=7), SAT})
    assert search(SlotRules(30), [calendar], MON, FRI, closed_days=closed) == search(
        SlotRules(30), [calendar], MON, FRI
    )


@pytest.mark.parametrize(
    ("now", "min_notice", "first"),
    [
        (local(MON, "07:00"), 0, "08:00"),
        (local(MON, "09:05"), 0, "09:30"),
        (local(MON, "09:00"), 0, "09:00"),
        (local(MON, "09:00", microsecond=1), 0, "09:30"),
        (local(MON, "09:00"), 60, "10:00"),
        (local(MON, "09:00", second=1), 60, "10:30"),
        (local(SUN - timedelta(days=7), "20:00"), 13 * 60, "09:00"),
        (local(MON, "11:31"), 0, None),
    ],
    ids=[
        "before-hours",
        "mid-slot",
        "exactly-now",
        "a-microsecond-late",
        "exactly-at-notice",
        "a-second-late",
        "notice-from-previous-day",
        "all-past",
    ],
)
def test_min_notice_sets_the_earliest_start(now, min_notice, first):
    slots = search(SlotRules(30, min_notice=min_notice), [advisor(1)], MON, now=now)
    assert (wall(slots)[0] if slots else None) == first
    assert all(slot.start >= now + timedelta(minutes=min_notice) for slot in slots)


@pytest.mark.parametrize(("horizon_days", "days"), [(0, [MON]), (2, [MON, TUE, WED]), (30, None)])
def test_horizon_days_limit_the_last_bookable_local_day(horizon_days, days):
    calendar = advisor(1, weekdays=range(7))
    rules = SlotRules(60, horizon_days=horizon_days)
    slots = search(rules, [calendar], MON, SUN, now=local(MON, "07:00"))
    assert days_of(slots) == (days or [MON, TUE, WED, THU, FRI, SAT, SUN])


def test_horizon_counts_from_the_local_date_not_the_utc_date():
    now = datetime(2026, 6, 14, 22, 30, tzinfo=UTC)  # Sunday in UTC, Monday 00:30 in Berlin
    assert last_bookable_day(SlotRules(30, horizon_days=1), now, TZ) == TUE
    slots = search(
        SlotRules(60, horizon_days=1), [advisor(1, weekdays=range(7))], MON, SUN, now=now
    )
    assert days_of(slots) == [MON, TUE]


# --- several advisors ----------------------------------------------------------------------


def test_union_has_one_entry_per_start_with_sorted_advisor_ids():
    calendars = [
        advisor(3, "08:00-10:00"),
        advisor(1, "09:00-11:00"),
        advisor(2, "08:00-10:00", taken=[span(MON, "08:00", "08:30")]),
    ]
    slots = search(SlotRules(30), calendars, MON)
    assert [(w, slot.advisor_ids) for w, slot in zip(wall(slots), slots, strict=True)] == [
        ("08:00", (3,)),
        ("08:30", (2, 3)),
        ("09:00", (1, 2, 3)),
        ("09:30", (1, 2, 3)),
        ("10:00", (1,)),
        ("10:30", (1,)),
    ]


def test_union_of_different_grids_is_sorted_by_start():
    calendars = [advisor(1, "08:10-10:00"), advisor(2, "08:00-10:00")]
    slots = search(SlotRules(30), calendars, MON, TUE)
    assert wall(slots) == ["08:00", "08:10", "08:30", "08:40", "09:00", "09:10", "09:30"]
    assert [slot.advisor_ids for slot in slots] == [(2,), (1,), (2,), (1,), (2,), (1,), (2,)]


def test_results_over_several_days_are_sorted():
    calendars = [
        advisor(1, *WORKWEEK, weekdays=range(5)),
        advisor(2, "07:00-09:00", weekdays=(1, 3)),
    ]
    slots = search(SlotRules(30, buffer=10), calendars, MON, FRI)
    assert [slot.start for slot in slots] == sorted({slot.start for slot in slots})


# --- daylight saving time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sunday", "offset"),
    [
        (date(2026, 3, 22), "+01:00"),
        (SPRING_FORWARD, "+02:00"),
        (date(2026, 10, 18), "+02:00"),
        (FALL_BACK, "+01:00"),
    ],
    ids=["before-spring-forward", "spring-forward", "before-fall-back", "fall-back"],
)
def test_dst_day_keeps_the_wall_clock_starts_of_a_normal_day(sunday, offset):
    slots = search(SlotRules(30, buffer=10), [advisor(1, "08:00-12:00", weekdays=6)], sunday)
    assert wall(slots) == ["08:00", "08:40", "09:20", "10:00", "10:40", "11:20"]
    assert set(offsets(slots)) == {offset}
    assert all(slot.end - slot.start == timedelta(minutes=30) for slot in slots)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (SlotRules(30), ["01:00", "01:30", "03:00", "03:30"]),
        (SlotRules(60), ["01:00", "03:00"]),
        (SlotRules(45), ["01:00", "01:45", "03:15"]),
        (SlotRules(20, step=40), ["01:00", "01:40", "03:00", "03:40"]),
    ],
    ids=["30", "60", "45", "20-step-40"],
)
def test_spring_forward_skips_the_nonexistent_starts(rules, expected):
    slots = search(rules, [advisor(1, "01:00-04:00", weekdays=6)], SPRING_FORWARD)
    assert wall(slots) == expected
    assert offsets(slots) == ["+01:00" if w < "02:00" else "+02:00" for w in wall(slots)]


def test_spring_forward_slot_across_the_gap_lasts_its_real_duration():
    slots = search(SlotRules(30), [advisor(1, "01:00-04:00", weekdays=6)], SPRING_FORWARD)
    crossing = slots[1]  # 01:30 CET -> 03:00 CEST
    assert crossing.end - crossing.start == timedelta(minutes=30)
    assert crossing.end.astimezone(TZ).strftime("%H:%M") == "03:00"


def test_spring_forward_interval_starting_in_the_gap_keeps_its_wall_clock_grid():
    slots = search(SlotRules(20, step=40), [advisor(1, "02:20-04:00", weekdays=6)], SPRING_FORWARD)
    assert wall(slots) == ["03:00", "03:40"]  # 02:20 does not exist; 03:00 = 02:20 + 40 min


def test_fall_back_gives_each_wall_clock_start_once():
    slots = search(SlotRules(30), [advisor(1, "01:00-04:00", weekdays=6)], FALL_BACK)
    assert wall(slots) == ["01:00", "01:30", "02:00", "02:30", "03:00", "03:30"]
    assert len({slot.start for slot in slots}) == len(slots)


def test_fall_back_repeated_hour_starts_at_its_first_occurrence():
    slots = search(SlotRules(30), [advisor(1, "01:00-04:00", weekdays=6)], FALL_BACK)
    assert offsets(slots) == ["+02:00", "+02:00", "+02:00", "+02:00", "+01:00", "+01:00"]


# --- is_on_grid ----------------------------------------------------------------------------

GRID_CALENDAR = advisor(1, "08:00-10:00", "13:00-14:00")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (local(MON, "08:00"), True),
        (local(MON, "08:40"), True),
        (local(MON, "09:20"), True),
        (local(MON, "13:00"), True),
        (local(MON, "08:40").astimezone(UTC), True),
        (local(MON - timedelta(days=7 * 52 * 5), "08:40"), True),
        (local(MON, "08:30"), False),
        (local(MON, "08:40", second=30), False),
        (local(MON, "10:00"), False),
        (local(MON, "13:40"), False),
        (local(MON, "12:00"), False),
        (local(TUE, "08:00"), False),
    ],
    ids=[
        "interval-start",
        "second-step",
        "last-fitting",
        "second-interval",
        "given-in-utc",
        "years-ago",
        "between-grid-times",
        "seconds-off",
        "at-interval-end",
        "does-not-fit",
        "lunch-break",
        "day-without-hours",
    ],
)
def test_is_on_grid(start, expected):
    assert is_on_grid(SlotRules(30, buffer=10), [GRID_CALENDAR], start, TZ) is expected


def test_is_on_grid_ignores_taken_time_and_absences():
    calendar = advisor(
        1,
        "08:00-10:00",
        taken=[span(MON, "08:00", "10:00")],
        absences=[span(MON, "00:00", "23:00")],
    )
    assert is_on_grid(SlotRules(30, buffer=10), [calendar], local(MON, "08:40"), TZ)


def test_is_on_grid_of_any_advisor():
    calendars = [advisor(1, "08:00-10:00"), advisor(2, "08:10-10:00")]
    assert is_on_grid(SlotRules(30), calendars, local(MON, "08:10"), TZ)
    assert not is_on_grid(SlotRules(30), calendars, local(MON, "08:20"), TZ)


# --- properties ----------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, deadline=None)


@dataclass(frozen=True)
class Scenario:
    rules: SlotRules
    calendars: list[AdvisorCalendar]
    first_day: date
    last_day: date
    now: datetime
    closed_days: frozenset[date]

    def find(self) -> list[Slot]:
        return find_slots(
            self.rules,
            self.calendars,
            self.first_day,
            self.last_day,
            now=self.now,
            tz=TZ,
            closed_days=self.closed_days,
        )

    def calendar(self, advisor_id: int) -> AdvisorCalendar:
        return next(c for c in self.calendars if c.advisor_id == advisor_id)


first_days = st.one_of(
    st.dates(date(2026, 3, 23), date(2026, 3, 31)),  # spring forward on 2026-03-29
    st.dates(date(2026, 10, 19), date(2026, 10, 27)),  # fall back on 2026-10-25
    st.dates(date(2026, 1, 1), date(2026, 12, 31)),
)
minutes_of_day = st.one_of(st.integers(0, 1438), st.integers(0, 300), st.integers(420, 1080))
sub_minute = st.one_of(st.just(0), st.integers(0, 59_999_999))  # microseconds


@st.composite
def weekly_intervals(draw) -> WeeklyInterval:
    start = draw(minutes_of_day)
    end = min(start + draw(st.integers(1, 600)), 1439)
    return WeeklyInterval(
        draw(st.integers(0, 6)), time(start // 60, start % 60), time(end // 60, end % 60)
    )


@st.composite
def scenarios(draw) -> Scenario:
    first_day = draw(first_days)
    n_days = draw(st.integers(-1, 6))
    midnight = datetime.combine(first_day, time(), TZ).astimezone(UTC)

    def instant(max_minutes: int) -> datetime:
        minutes = draw(st.integers(-1440, max_minutes))
        return midnight + timedelta(minutes=minutes, microseconds=draw(sub_minute))

    def ranges(max_size: int, max_length: int) -> list[tuple[datetime, datetime]]:
        result = []
        for _ in range(draw(st.integers(0, max_size))):
            start = instant((n_days + 2) * 1440)
            length = timedelta(minutes=draw(st.integers(1, max_length)))
            result.append((start, start + length + timedelta(microseconds=draw(sub_minute))))
        return result

    ids = draw(st.lists(st.integers(1, 9), min_size=1, max_size=3, unique=True))
    calendars = [
        AdvisorCalendar(
            advisor_id,
            draw(st.lists(weekly_intervals(), max_size=6)),
            absences=ranges(3, 3 * 1440),
            taken=ranges(8, 240),
        )
        for advisor_id in ids
    ]
    rules = SlotRules(
        duration=draw(st.one_of(st.sampled_from([15, 20, 30, 45, 60]), st.integers(1, 180))),
        buffer=draw(st.one_of(st.just(0), st.integers(0, 60))),
        step=draw(st.one_of(st.none(), st.integers(1, 120))),
        min_notice=draw(st.one_of(st.just(0), st.integers(0, 3000))),
        horizon_days=draw(st.integers(0, 10)),
    )
    closed = draw(st.sets(st.integers(0, max(n_days, 0)), max_size=3))
    return Scenario(
        rules=rules,
        calendars=calendars,
        first_day=first_day,
        last_day=first_day + timedelta(days=n_days),
        now=instant((n_days + 1) * 1440),
        closed_days=frozenset(first_day + timedelta(days=n) for n in closed),
    )


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@PROPERTY
@given(scenarios())
def test_property_no_slot_overlaps_taken_time_extended_by_the_buffer(scenario):
    occupied = timedelta(minutes=scenario.rules.duration + scenario.rules.buffer)
    for slot in scenario.find():
        for advisor_id in slot.advisor_ids:
            for taken in scenario.calendar(advisor_id).taken:
                assert not overlaps((slot.start, slot.start + occupied), taken)


@PROPERTY
@given(scenarios())
def test_property_no_slot_overlaps_an_absence(scenario):
    for slot in scenario.find():
        for advisor_id in slot.advisor_ids:
            for absence in scenario.calendar(advisor_id).absences:
                assert not overlaps((slot.start, slot.end), absence)


@PROPERTY
@given(scenarios())
def test_property_every_slot_lies_on_the_grid_of_a_weekly_interval(scenario):
    step = scenario.rules.grid_step
    for slot in scenario.find():
        start = slot.start.astimezone(TZ)
        day, minute = start.date(), start.hour * 60 + start.minute
        assert (start.second, start.microsecond) == (0, 0)
        assert slot.end - slot.start == timedelta(minutes=scenario.rules.duration)
        for advisor_id in slot.advisor_ids:
            # The start is compared in wall-clock minutes (an interval may begin inside the
            # spring gap), the end as an instant (the appointment lasts its real duration).
            assert any(
                interval.weekday == day.weekday()
                and interval.start.hour * 60 + interval.start.minute <= minute
                and (minute - (interval.start.hour * 60 + interval.start.minute)) % step == 0
                and slot.end <= datetime.combine(day, interval.end, TZ)
                for interval in scenario.calendar(advisor_id).weekly
            )


@PROPERTY
@given(scenarios())
def test_property_every_slot_is_on_an_open_day_within_range_and_horizon(scenario):
    last = last_bookable_day(scenario.rules, scenario.now, TZ)
    for slot in scenario.find():
        day = slot.start.astimezone(TZ).date()
        assert day not in scenario.closed_days
        assert scenario.first_day <= day <= min(scenario.last_day, last)


@PROPERTY
@given(scenarios())
def test_property_every_slot_respects_min_notice(scenario):
    earliest = scenario.now + timedelta(minutes=scenario.rules.min_notice)
    assert all(slot.start >= earliest for slot in scenario.find())


@PROPERTY
@given(scenarios())
def test_property_result_is_sorted_and_unique_with_sorted_unique_advisor_ids(scenario):
    slots = scenario.find()
    starts = [slot.start for slot in slots]
    assert starts == sorted(set(starts))
    known = {calendar.advisor_id for calendar in scenario.calendars}
    for slot in slots:
        assert slot.advisor_ids
        assert list(slot.advisor_ids) == sorted(set(slot.advisor_ids))
        assert set(slot.advisor_ids) <= known


@PROPERTY
@given(scenarios())
def test_property_every_slot_start_is_on_grid(scenario):
    for slot in scenario.find()[:10]:
        assert is_on_grid(scenario.rules, scenario.calendars, slot.start, TZ)


@PROPERTY
@given(scenarios())
def test_property_matches_the_naive_reference(scenario):
    expected = find_slots_naive(
        scenario.rules,
        scenario.calendars,
        scenario.first_day,
        scenario.last_day,
        now=scenario.now,
        tz=TZ,
        closed_days=scenario.closed_days,
    )
    assert scenario.find() == expected


@PROPERTY
@given(scenarios(), st.data())
def test_property_free_advisors_at_agrees_with_the_search(scenario, data):
    """Booking checks one start with `free_advisors_at`; it must name exactly the advisors the
    search offers at that start (every free one), and nobody at a start the search omits."""
    rules, calendars, now = scenario.rules, scenario.calendars, scenario.now
    day = scenario.first_day + timedelta(days=data.draw(st.integers(0, 2)))
    offered = {
        slot.start: slot.advisor_ids
        for slot in find_slots(rules, calendars, day, day, now=now, tz=TZ)
    }
    # Every grid start of the day, taken or not, the same wall-clock time an hour off (the
    # repeated autumn hour) and half a minute off, and some whole minutes of the day.
    bare = [AdvisorCalendar(c.advisor_id, c.weekly) for c in calendars]
    anytime = SlotRules(rules.duration, rules.buffer, rules.step, 0, 100_000)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    grid = [s.start for s in find_slots(anytime, bare, day, day, now=epoch, tz=TZ)]
    shifts = [timedelta(0), timedelta(hours=1), timedelta(hours=-1), timedelta(seconds=30)]
    midnight = datetime.combine(day, time(), TZ).astimezone(UTC)
    candidates = [start + shift for start in grid for shift in shifts]
    candidates += [
        midnight + timedelta(minutes=m) for m in data.draw(st.lists(st.integers(-60, 1500)))
    ]
    for start in candidates:
        if start.astimezone(TZ).date() != day:
            continue
        assert free_advisors_at(rules, calendars, start, now=now, tz=TZ) == offered.get(start, ())


# --- one start, as booking checks it -------------------------------------------------------


def free_at(calendars: Sequence[AdvisorCalendar], start: datetime, now: datetime = NOW):
    return free_advisors_at(BUFFERED, calendars, start, now=now, tz=TZ)


@pytest.mark.parametrize(
    ("taken_from", "free"),
    [
        (local(MON, "09:59", second=59), ()),  # a second into the buffer
        (local(MON, "10:00"), (1,)),  # where the buffer ends
    ],
)
def test_free_at_counts_the_buffer_to_the_second(taken_from, free):
    calendar = advisor(1, taken=[(taken_from, taken_from + timedelta(minutes=30))])
    assert free_at([calendar], local(MON, "09:20")) == free  # occupies 09:20-10:00


@pytest.mark.parametrize(
    ("now", "free"),
    [
        (local(MON, "09:20", second=1), ()),
        (local(MON, "09:20"), (1,)),
    ],
)
def test_free_at_needs_the_start_not_before_now_plus_notice(now, free):
    assert free_at([advisor(1)], local(MON, "09:20"), now=now) == free


def test_free_at_names_every_free_advisor_in_order_and_only_on_the_grid():
    calendars = [advisor(3), advisor(1), advisor(2, taken=[span(MON, "09:00", "09:30")])]
    assert free_at(calendars, local(MON, "09:20")) == (1, 3)
    assert free_at(calendars, local(MON, "09:25")) == ()
    assert free_at(calendars, local(MON, "09:20", microsecond=1)) == ()
