"""The tests' office clock (tests/office_clock.py) moves a real process's "now", and nothing of
the product itself can: no setting, no option, no installed file, and production refuses it."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from tests import office_clock
from tests.office_clock import BERLIN, ROOT
from tests.web.test_cli import LONG_SECRET, query
from web.cli import parser
from web.settings import Settings

EASTER_SATURDAY = datetime(2027, 3, 27, 10, 0, tzinfo=BERLIN)


def launch(
    database: Path, offset: timedelta, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPRECHSTUNDE_")}
    environment.update(
        PYTHONPATH=str(ROOT),
        SPRECHSTUNDE_ENV="test",  # production is the default
        SPRECHSTUNDE_DATABASE_URL=f"sqlite:///{database}",
    )
    environment.update({f"SPRECHSTUNDE_{k.upper()}": v for k, v in env.items()})
    command = [sys.executable, "-m", "tests.office_clock", "--offset"]
    return subprocess.run(
        [*command, str(offset.total_seconds()), "--", *args],
        cwd=database.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_process_started_through_it_lives_at_the_office_time(tmp_path):
    database = tmp_path / "sprechstunde.db"
    assert launch(database, timedelta(0), "migrate").returncode == 0
    offset = EASTER_SATURDAY - datetime.now(BERLIN)

    result = launch(database, offset, "seed-demo")

    assert result.returncode == 0, result.stderr
    starts = [
        datetime.fromisoformat(str(row[0]))
        for row in query(database, "SELECT start_at FROM bookings")
    ]
    assert starts
    # The demo books from the office's today on: after Easter Monday, the first working day.
    assert min(starts).date() >= datetime(2027, 3, 30).date()
    assert max(starts).date() <= (EASTER_SATURDAY + timedelta(days=14)).date()


def test_production_refuses_it(tmp_path):
    database = tmp_path / "sprechstunde.db"

    result = launch(
        database,
        timedelta(days=30),
        "migrate",
        env="production",
        secret_key=LONG_SECRET,
        smtp_host="127.0.0.1",
        base_url="https://termine.example.org",
    )

    assert result.returncode == 2
    assert "refused in production" in result.stderr
    assert not database.exists()


def test_the_product_has_no_setting_option_or_file_for_it():
    assert not [name for name in Settings.model_fields if "clock" in name or "offset" in name]
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]  # argparse keeps sub-commands only there
    options = {
        o for command in commands.values() for a in command._actions for o in a.option_strings
    }
    assert not [o for o in options if "clock" in o or "offset" in o]
    shipped = importlib.metadata.distribution("sprechstunde").read_text("top_level.txt") or ""
    assert "tests" not in shipped.split()


def test_the_browser_days_are_hard_days_and_ci_reads_them(capsys):
    """`.ci/run` repeats the browser tests on the days `--browser-days` prints; a name that
    is not a hard day would fail here, not empty that list in CI without a word."""
    assert office_clock.main(["--browser-days"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [office_clock.HARD_DAYS[name] for name in office_clock.BROWSER_DAYS]
    assert 0 < len(printed) < len(office_clock.HARD_DAYS)
    assert "--browser-days" in (ROOT / ".ci" / "run").read_text()
