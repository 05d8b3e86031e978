"""The dashboard's tables: which figures of `scheduler/statistics.py` each one shows, week by
week, and the same rows as CSV. Free of HTTP; texts are English msgids translated by the
caller (German in statistics_page.po)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scheduler.appointment_export import spreadsheet_safe
from scheduler.statistics import Report
from scheduler.statistics_figures import Figures

Kind = Literal["count", "days", "hours", "rate"]
Translate = Callable[[str], str]
Number = Callable[[float, Kind], str]


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    kind: Kind
    value: Callable[[Figures], Any]


@dataclass(frozen=True, slots=True)
class Table:
    key: str  # in the CSV's address and the file name
    title: str
    sentence: str  # what the chart and the table show
    columns: tuple[Column, ...]
    charted: tuple[int, ...]  # indexes of the columns drawn in the chart

    @property
    def unit(self) -> Kind:
        return self.columns[self.charted[0]].kind


def _at(*path: str) -> Callable[[Figures], Any]:
    def value(figures: Figures) -> Any:
        found: Any = figures
        for name in path:
            found = found[name]
        return found

    return value


_first_call = _at("callbacks", "first_attempt_hours_mean")


def _count(label: str, *path: str) -> Column:
    return Column(label, "count", _at(*path))


def _days(label: str, *path: str) -> Column:
    return Column(label, "days", _at(*path))


TABLES: tuple[Table, ...] = (
    Table(
        "buchungen",
        "Appointments booked",
        "How many appointments fell in each week, booked by the citizens online or for them "
        "by staff (hotline, counter).",
        (
            _count("Appointments", "bookings"),
            _count("Booked online", "online_bookings"),
            _count("Booked by staff", "hotline_bookings"),
        ),
        (1, 2),
    ),
    Table(
        "wartezeit",
        "Waiting time",
        "How many days citizens waited from booking to their appointment (median), and how "
        "far ahead the first free time lay when they searched.",
        (
            _days("Days from booking to appointment (median)", "waiting_days_median"),
            _days("Days from booking to appointment (90th percentile)", "waiting_days_p90"),
            _days("Days to the first free time (median)", "search_wait_days_median"),
            _count("Searches", "searches"),
            _count("Searches without a free time", "searches_without_slot"),
        ),
        (0, 2),
    ),
    Table(
        "auslastung",
        "Utilisation",
        "Which share of the bookable times of the advisors' weekly hours was booked.",
        (
            Column("Utilisation", "rate", _at("utilisation")),
            _count("Bookable times", "slots_offered"),
            _count("Times booked", "slots_booked"),
        ),
        (0,),
    ),
    Table(
        "absagen",
        "Cancellations",
        "How many appointments were cancelled each week, and by whom.",
        (
            _count("Cancellations", "cancellations"),
            _count("By the citizen", "cancelled_by", "citizen"),
            _count("By staff", "cancelled_by", "staff"),
            _count("By the office (absence, closure day)", "cancelled_by", "office"),
            _count("Not recorded", "cancelled_by", "unknown"),
        ),
        (1, 2, 3),
    ),
    Table(
        "nichterscheinen",
        "Missed appointments",
        "Which share of the appointments that took place or were missed were missed.",
        (
            Column("Missed", "rate", _at("no_show_rate")),
            _count("Took place", "completed"),
            _count("Missed appointments", "no_shows"),
        ),
        (0,),
    ),
    Table(
        "rueckrufe",
        "Callbacks",
        "How many callbacks were asked for each week, how many of those called were reached, "
        "and how many became an appointment.",
        (
            _count("Callback requests", "callbacks", "requests"),
            _count("Called", "callbacks", "attempted"),
            _count("Reached", "callbacks", "reached"),
            _count("Became an appointment", "callbacks", "booked"),
            Column("Reached of those called", "rate", _at("callbacks", "reach_rate")),
            Column("Hours to the first call (mean)", "hours", _first_call),
        ),
        (0, 2, 3),
    ),
    Table(
        "warteliste",
        "Waiting list",
        "How many people joined the waiting list each week, how many times were offered to "
        "them and how many offers they accepted.",
        (
            _count("Joined", "waitlist", "entries"),
            _count("Got an offer", "waitlist", "offered"),
            _days("Days to the first offer (mean)", "waitlist", "offer_days_mean"),
            _count("Offers", "waitlist", "offers"),
            _count("Accepted", "waitlist", "accepted"),
            Column("Offers accepted", "rate", _at("waitlist", "acceptance_rate")),
        ),
        (3, 4),
    ),
)
BY_KEY = {table.key: table for table in TABLES}


@dataclass(frozen=True, slots=True)
class Row:
    label: str  # the ISO week, or the whole period
    values: tuple[Any, ...]  # None where there is nothing to count (no rate without a whole)


def rows(table: Table, report: Report, whole_period: str) -> list[Row]:
    """One row per week, then the whole period."""
    weekly = [
        Row(week.label, tuple(c.value(week.figures) for c in table.columns))
        for week in report.weeks
    ]
    return [*weekly, Row(whole_period, tuple(c.value(report.totals) for c in table.columns))]


def csv_bytes(table: Table, table_rows: Sequence[Row], _: Translate, number: Number) -> bytes:
    """Semicolons and the byte order mark, as the office's spreadsheets read them (the same as
    the appointment export); numbers written as the page shows them, empty where none."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([_("Week"), *(_(c.label) for c in table.columns)])
    for row in table_rows:
        cells = [
            "" if value is None else number(value, column.kind)
            for column, value in zip(table.columns, row.values, strict=True)
        ]
        writer.writerow(spreadsheet_safe(cell) for cell in [row.label, *cells])
    return out.getvalue().encode("utf-8-sig")
