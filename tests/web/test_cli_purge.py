"""`sprechstunde purge`, and the daily purge inside `serve` and `sprechstunde worker`.

The commands run as real processes against their own SQLite file (on the office clock: the
data is made with a clock set back from it); the run inside the app uses the suite's database.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from scheduler.db import read_session
from scheduler.models import Booking
from scheduler.services import BookingRequest
from tests import office_clock
from tests.conftest import Clock, World
from tests.web.test_cli import query, run
from web.app import create_app
from web.container import Container
from web.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")

pytestmark = pytest.mark.office_clock


def environment(database: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPRECHSTUNDE_")}
    env.update(office_clock.environment())
    env["SPRECHSTUNDE_DATABASE_URL"] = f"sqlite:///{database}"
    env["SPRECHSTUNDE_ENV"] = "test"  # production is the default
    env.update({f"SPRECHSTUNDE_{k.upper()}": v for k, v in settings.items()})
    return env


def dump(database: Path) -> str:
    with closing(sqlite3.connect(database)) as connection:
        return "\n".join(connection.iterdump())


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.05)


def book_first_slot(container: Container, service_id: int, email: str) -> str:
    today = container.scheduler.clock().date()
    slot = container.scheduler.slots(service_id, today, today + timedelta(days=13))[0]
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service_id,
            start=slot.start,
            channel="video",
            name="Erika Mustermann",
            email=email,
            phone="+49 391 1234567",
        )
    )
    assert placed.booking is not None
    return placed.booking.reference


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("purge-migrated") / "sprechstunde.db"
    result = run(database, "migrate")
    assert result.returncode == 0, result.stderr
    return database


@pytest.fixture
def database(migrated: Path, tmp_path: Path) -> Path:
    """A copy of the migrated database with an appointment 200 days ago (due) and one 30
    days ago (within the 90 days), booked on a clock set back to then."""
    target = tmp_path / "sprechstunde.db"
    target.write_bytes(migrated.read_bytes())
    clock = Clock(office_clock.office_now() - timedelta(days=200))
    settings = Settings(_env_file=None, database_url=f"sqlite:///{target}")  # type: ignore[call-arg]
    container = Container.build(settings, clock=clock)
    try:
        world = World(container)
        service = world.service(name="Wohngeld")
        world.advisor([service])
        book_first_slot(container, service.id, "old@example.org")
        clock.now = office_clock.office_now() - timedelta(days=30)
        book_first_slot(container, service.id, "recent@example.org")
    finally:
        container.engine.dispose()
    return target


def personal(database: Path) -> list[tuple[object, ...]]:
    return query(database, "SELECT email, name, phone FROM bookings ORDER BY id")


def test_purge_prints_the_counts_and_erases_only_what_is_due(database):
    result = run(database, "purge")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is False
    assert report["retention_days"] == 90
    assert report["counts"]["bookings_anonymised"] == 1
    assert report["counts"]["outbox_messages_deleted"] >= 1
    assert personal(database) == [
        (None, "", None),
        ("recent@example.org", "Erika Mustermann", "+49 391 1234567"),
    ]
    assert query(database, "SELECT status FROM bookings ORDER BY id") == [
        ("confirmed",),
        ("confirmed",),
    ]


def test_a_dry_run_changes_nothing_and_a_second_purge_finds_nothing(database):
    before = dump(database)
    dry = run(database, "purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dump(database) == before

    real = run(database, "purge")
    dry_report, real_report = json.loads(dry.stdout), json.loads(real.stdout)
    assert dry_report["dry_run"] is True
    assert dry_report["counts"] == real_report["counts"]
    after_first = dump(database)
    assert after_first != before

    second = run(database, "purge")
    assert second.returncode == 0, second.stderr
    assert set(json.loads(second.stdout)["counts"].values()) == {0}
    assert dump(database) == after_first


def test_the_worker_command_purges_at_the_time_of_day_and_stops_on_sigterm(database):
    # Far enough ahead for the process to start (imports take a second or two).
    soon = (office_clock.office_now() + timedelta(seconds=6)).astimezone(BERLIN)
    with subprocess.Popen(
        [*office_clock.command(), "worker"],
        cwd=database.parent,
        env=environment(database, purge_time=soon.strftime("%H:%M:%S")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            wait_until(lambda: personal(database)[0] == (None, "", None))
            assert personal(database)[1][0] == "recent@example.org"
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=15)
        finally:
            if worker.poll() is None:
                worker.kill()
    assert worker.returncode == 0
    assert "retention purge done" in stderr


# -- inside the app ------------------------------------------------------------------------


def test_the_app_runs_the_purge_daily_and_stops_it_at_shutdown(settings, world, clock):
    service = world.service(name="Wohngeld")
    world.advisor([service])
    reference = book_first_slot(world.container, service.id, "erika@example.org")

    def stored() -> Booking:
        with read_session(world.container.sessions) as session:
            return session.scalars(select(Booking).where(Booking.reference == reference)).one()

    clock.now = stored().end_at + timedelta(days=91)
    purge_time = (clock.now + timedelta(seconds=1)).astimezone(BERLIN).time()
    app = create_app(
        settings.model_copy(update={"embedded_worker": True, "purge_time": purge_time}),
        clock=clock,
    )
    schedule = app.state.container.daily_purge
    try:
        with TestClient(app):
            assert schedule.running
            assert stored().email == "erika@example.org"
            clock.advance(seconds=2)
            wait_until(lambda: stored().email is None)
        assert not schedule.running
    finally:
        app.state.container.engine.dispose()
    assert stored().name == ""


def test_without_the_embedded_worker_the_app_does_not_purge(app):
    with TestClient(app):
        assert not app.state.container.daily_purge.running
