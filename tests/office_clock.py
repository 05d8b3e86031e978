"""The office clock of the tests: which instant is "now" for the product under test.

It is the real time unless `SPRECHSTUNDE_TEST_OFFICE_TIME` names another one (ISO 8601 with a
UTC offset, e.g. `2026-12-18T17:45:00+01:00`): the test session then starts at that instant,
and time passes as usual from there. Tests whose outcome depends on the date, the weekday or
the hour carry the marker `office_clock` and take "now" from here; `.ci/run` runs them again
at each of the hard days below.

A server process under test gets the clock by being started through this module,
`python -m tests.office_clock --offset SECONDS -- serve ...`, which hands a shifted clock to
`web.cli.main`. No setting, option or environment variable of the product itself reaches the
clock: this module lives in `tests/`, which is not installed with the package, and it refuses
to run with `SPRECHSTUNDE_ENV=production`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bench.common import Server

VARIABLE = "SPRECHSTUNDE_TEST_OFFICE_TIME"
BERLIN = ZoneInfo("Europe/Berlin")
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).with_name("sprechstunde")

# Days on which a calendar goes wrong if it can: the office is about to close for the
# holidays, the year ends, a day has 23 or 25 hours, a week starts after a public holiday.
# `.ci/run` reads them from here (`python -m tests.office_clock --hard-days`).
HARD_DAYS = {
    "friday-evening-before-christmas": "2026-12-18T17:45:00+01:00",
    "new-years-eve": "2026-12-31T11:00:00+01:00",
    "monday-after-new-years-day": "2027-01-04T07:55:00+01:00",
    # Easter Saturday too: Good Friday before, Easter Monday after.
    "saturday-before-summer-time": "2027-03-27T10:00:00+01:00",
    # Reformation Day, a holiday of Saxony-Anhalt, is the Sunday of the switch.
    "saturday-before-winter-time": "2027-10-30T16:30:00+02:00",
}
# The browser tests are repeated where the browser's own calendar meets the edge: the year
# (and ISO week 53) turns in the pages' scripts, and local times cross a 23- or 25-hour day.
# Christmas and the first Monday of the year are rules of the server (hours, holidays), which
# the rest of the suite checks on those days; half of a hard day's run is browsers.
BROWSER_DAYS = ("new-years-eve", "saturday-before-summer-time", "saturday-before-winter-time")


def _offset() -> timedelta:
    named = os.environ.get(VARIABLE)
    if not named:
        return timedelta(0)
    at = datetime.fromisoformat(named)
    if at.tzinfo is None:
        raise SystemExit(f"{VARIABLE} needs a UTC offset: {named}")
    return at - datetime.now(UTC)


OFFSET = _offset()


@dataclass(frozen=True)
class ShiftedClock:
    """The real time moved by `offset`: it ticks, so tickets expire and rooms open."""

    offset: timedelta

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


office_now = ShiftedClock(OFFSET)


def office_today() -> date:
    return office_now().astimezone(BERLIN).date()


def command(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """How to start `sprechstunde` with `env` on the office clock: the plain script when the
    clock is the real one, and in production, which refuses any other."""
    if not OFFSET or (env or {}).get("SPRECHSTUNDE_ENV") == "production":
        return (str(SCRIPT),)
    return (sys.executable, "-m", "tests.office_clock", "--offset", str(OFFSET.total_seconds()))


def environment() -> dict[str, str]:
    """What `command()` needs in the environment: the tests importable from anywhere."""
    return {"PYTHONPATH": str(ROOT)} if OFFSET else {}


def server(database_url: str, workdir: Path, **options: Any) -> Server:
    """A `bench.common.Server` on the office clock."""
    from bench.common import Server

    extra_env = {**environment(), **options.pop("extra_env", {})}
    return Server(database_url, workdir, command=command(extra_env), extra_env=extra_env, **options)


def main(argv: Sequence[str] | None = None) -> int:
    from web.cli import main as sprechstunde
    from web.settings import Settings

    parser = argparse.ArgumentParser(
        prog="python -m tests.office_clock",
        description="Run a sprechstunde command with the clock moved, for tests only.",
    )
    parser.add_argument("--offset", type=float, help="seconds to move the clock")
    parser.add_argument("--hard-days", action="store_true", help="print the hard days and stop")
    parser.add_argument(
        "--browser-days",
        action="store_true",
        help="print the hard days on which the browser tests are repeated too, and stop",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.hard_days:
        print("\n".join(HARD_DAYS.values()))
        return 0
    if args.browser_days:
        print("\n".join(HARD_DAYS[name] for name in BROWSER_DAYS))
        return 0
    if args.offset is None:
        parser.error("--offset is needed")
    if Settings().env == "production":
        print("the office clock is for tests: refused in production", file=sys.stderr)
        return 2
    rest = args.command[1:] if args.command[:1] == ["--"] else args.command
    return sprechstunde(rest, clock=ShiftedClock(timedelta(seconds=args.offset)))


if __name__ == "__main__":
    sys.exit(main())
