"""Bar charts drawn on the server: the geometry of one chart, week by week, rendered as SVG by
web/templates/staff/_charts.html. No chart library and no script: the page works without
JavaScript, and the data table below each chart carries the exact figures.

Series are told apart by their fill pattern as well as by their shade, so a chart reads in
black and white and for people who do not see colours."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 260
LEFT = 56  # room for the axis labels
RIGHT = 8
TOP = 12
BOTTOM = 40  # room for the week labels
TICKS = 4
PATTERNS = ("solid", "hatch", "dots", "cross")


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    text: str  # read by screen readers and shown on hovering


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]
    series: list[tuple[str, str]]  # (name, pattern)
    empty: bool


def nice_top(largest: float) -> float:
    """The axis' top: 1, 2, 2.5 or 5 times a power of ten, at least the largest value."""
    if largest <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(largest))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= largest:
            return step * power
    return 10 * power  # pragma: no cover - the loop ends at 10 × power


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    show: Callable[[float], str],
) -> Chart:
    """Grouped bars: one group per category (week), one bar per series. Missing values (None)
    draw no bar; `show` writes a value for the axis and the bars' texts."""
    values = [v for _, points in series for v in points if v is not None]
    top = nice_top(max(values, default=0.0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    group = plot_width / max(len(categories), 1)
    bar_width = group * 0.8 / max(len(series), 1)
    bars = []
    for index, (name, points) in enumerate(series):
        for position, value in enumerate(points):
            if value is None:
                continue
            height = plot_height * value / top
            x = LEFT + position * group + group * 0.1 + index * bar_width
            label = f"{categories[position]}, {name}: {show(value)}"
            bars.append(Bar(x, baseline - height, bar_width, height, index, label))
    ticks = [
        Tick(baseline - plot_height * step / TICKS, show(top * step / TICKS))
        for step in range(TICKS + 1)
    ]
    # Every week's label while they fit, else every other one or fewer.
    every = max(1, math.ceil(len(categories) * 56 / plot_width))
    labels = [
        Label(LEFT + position * group + group / 2, _short(category))
        for position, category in enumerate(categories)
        if position % every == 0
    ]
    names = [(name, PATTERNS[index % len(PATTERNS)]) for index, (name, _) in enumerate(series)]
    return Chart(WIDTH, HEIGHT, LEFT, baseline, bars, ticks, labels, names, not values)


def _short(week: str) -> str:
    """ "2031-W02" → "W02": the year is in the period above the chart."""
    return week.rpartition("-")[2] or week
