"""The `sprechstunde` command, run as a real process against its own SQLite file.

These tests always use SQLite, also when the rest of the suite runs on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from bench.common import SCRIPT
from scheduler.accounts import StaffIdentity
from scheduler.models import Role
from tests import office_clock
from web import demo
from web.container import Container
from web.settings import Settings

LONG_SECRET = "a-production-secret-that-is-long-enough-0123456789"


def run(database: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command with a clean SPRECHSTUNDE_* environment, outside the project dir, on
    the office clock (the real one in production, which refuses any other)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPRECHSTUNDE_")}
    environment["SPRECHSTUNDE_DATABASE_URL"] = f"sqlite:///{database}"
    environment["SPRECHSTUNDE_ENV"] = "test"  # production is the default
    environment.update({f"SPRECHSTUNDE_{k.upper()}": v for k, v in env.items()})
    environment.update(office_clock.environment())
    return subprocess.run(
        [*office_clock.command(environment), *args],
        cwd=next(p for p in database.parents if p.is_dir()),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def query(database: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(sql).fetchall()


def count(database: Path, table: str, where: str = "1=1") -> int:
    return int(query(database, f"SELECT count(*) FROM {table} WHERE {where}")[0][0])  # type: ignore[arg-type]


def counts(database: Path) -> dict[str, int]:
    tables = [
        "staff",
        "teams",
        "services",
        "weekly_hours",
        "bookings",
        "staff_services",
        "callback_requests",
    ]
    return {table: count(database, table) for table in tables}


def copy(source: Path, directory: Path) -> Path:
    target = directory / "copy.db"
    shutil.copyfile(source, target)
    return target


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("cli-migrated") / "sprechstunde.db"
    result = run(database, "migrate")
    assert result.returncode == 0, result.stderr
    return database


@pytest.fixture
def database(migrated: Path, tmp_path: Path) -> Path:
    """A fresh copy of the migrated database for one test."""
    return copy(migrated, tmp_path)


@pytest.fixture(scope="module")
def seeded(
    migrated: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    database = copy(migrated, tmp_path_factory.mktemp("cli-seeded"))
    result = run(database, "seed-demo")
    assert result.returncode == 0, result.stderr
    return database, result


def test_migrate_creates_the_schema(tmp_path):
    database = tmp_path / "nested" / "sprechstunde.db"
    result = run(database, "migrate")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    tables = {row[0] for row in query(database, "SELECT name FROM sqlite_master")}
    assert {"bookings", "staff", "services", "alembic_version"} <= tables


def test_migrate_twice_changes_nothing(database):
    result = run(database, "migrate")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert len(query(database, "SELECT version_num FROM alembic_version")) == 1


@pytest.mark.office_clock
def test_seed_demo_prints_the_three_demo_logins(seeded):
    _, result = seeded
    for login in demo.LOGINS:
        assert login.email in result.stdout
        assert login.password in result.stdout
    assert {login.role for login in demo.LOGINS} == {"admin", "advisor", "hotline"}


@pytest.mark.office_clock
def test_seed_demo_creates_services_teams_advisors_and_bookings(seeded):
    database, _ = seeded
    assert count(database, "services") >= 3
    assert count(database, "teams") == 2
    assert count(database, "staff", "role = 'advisor'") == 6
    with_hours = "id IN (SELECT staff_id FROM weekly_hours)"
    assert count(database, "staff", f"role = 'advisor' AND {with_hours}") == 6
    offering = "id IN (SELECT staff_id FROM staff_services)"
    assert count(database, "staff", f"role = 'advisor' AND {offering}") == 6
    assert count(database, "bookings", "status = 'confirmed' AND reference IS NOT NULL") >= 1
    assert count(database, "callback_requests", "status = 'open'") == 3


def test_seed_demo_twice_does_not_duplicate(seeded, tmp_path):
    database = copy(seeded[0], tmp_path)
    before = counts(database)
    result = run(database, "seed-demo")
    assert result.returncode == 0, result.stderr
    assert demo.LOGINS[0].email in result.stdout
    assert counts(database) == before


def test_the_demo_logins_work(seeded, tmp_path):
    database = copy(seeded[0], tmp_path)
    container = build(database)
    try:
        for login in demo.LOGINS:
            token = container.accounts.login(login.email, login.password, "127.0.0.1")
            assert container.accounts.identify(token).role == Role(login.role)
    finally:
        container.engine.dispose()


def test_a_deployment_that_forgets_the_environment_gets_productions_checks(tmp_path):
    weak = "weak-but-distinctive-0123"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPRECHSTUNDE_")}
    environment.update(
        SPRECHSTUNDE_DATABASE_URL=f"sqlite:///{tmp_path / 'sprechstunde.db'}",
        SPRECHSTUNDE_PREVIOUS_SECRET_KEYS=weak,
    )

    result = subprocess.run(
        [str(SCRIPT), "serve", "--port", "0"],
        cwd=tmp_path,  # no .env file
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "SPRECHSTUNDE_SECRET_KEY is the published development key" in result.stderr
    assert "secrets.token_urlsafe(48)" in result.stderr
    assert weak not in result.stderr  # a refusal never writes a key into the log
    assert not (tmp_path / "sprechstunde.db").exists()


def test_seed_demo_refuses_production(database):
    result = run(
        database,
        "seed-demo",
        env="production",
        secret_key=LONG_SECRET,
        smtp_host="127.0.0.1",
        base_url="https://termine.example.org",
    )
    assert result.returncode != 0
    assert "seed-demo refuses to run in production" in result.stderr
    assert count(database, "staff") == 0


def build(database: Path) -> Container:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url=f"sqlite:///{database}",
        secret_key="test-secret-key-that-is-long-enough-0123",
    )
    return Container.build(settings, clock=office_clock.office_now)


def test_create_user_creates_an_account_that_can_log_in(database):
    result = run(
        database,
        "create-user",
        "--email",
        "New.Colleague@Example.org",
        "--password",
        "a long enough password",
        "--role",
        "hotline",
        "--name",
        "Neue Kollegin",
    )
    assert result.returncode == 0, result.stderr
    assert "new.colleague@example.org" in result.stdout
    assert query(database, "SELECT email, name, role FROM staff") == [
        ("new.colleague@example.org", "Neue Kollegin", "hotline")
    ]
    container = build(database)
    try:
        token = container.accounts.login(
            "new.colleague@example.org", "a long enough password", "127.0.0.1"
        )
        identity = container.accounts.identify(token)
    finally:
        container.engine.dispose()
    assert isinstance(identity, StaffIdentity)
    assert identity.role == Role.HOTLINE


def test_create_user_refuses_a_duplicate_email(database):
    first = run(
        database,
        "create-user",
        "--email",
        "a@example.org",
        "--password",
        "Fenster-Kaffee-Regen-42",
        "--role",
        "admin",
    )
    assert first.returncode == 0, first.stderr
    again = run(
        database,
        "create-user",
        "--email",
        "A@example.org",
        "--password",
        "Tulpen-Abend-Brücke-17",
        "--role",
        "advisor",
    )
    assert again.returncode != 0
    assert "email_taken" in again.stderr
    assert count(database, "staff") == 1


def test_create_user_refuses_a_short_password(database):
    result = run(
        database,
        "create-user",
        "--email",
        "a@example.org",
        "--password",
        "short",
        "--role",
        "admin",
    )
    assert result.returncode != 0
    assert "password_too_short" in result.stderr
    assert count(database, "staff") == 0


def test_create_user_refuses_a_guessable_password(database):
    result = run(
        database,
        "create-user",
        "--email",
        "a@example.org",
        "--password",
        "x" * 12,
        "--role",
        "admin",
    )
    assert result.returncode != 0
    assert "password_too_weak" in result.stderr
    assert count(database, "staff") == 0


def test_create_user_refuses_an_unknown_role(database):
    result = run(
        database,
        "create-user",
        "--email",
        "a@example.org",
        "--password",
        "x" * 12,
        "--role",
        "boss",
    )
    assert result.returncode != 0
    assert "invalid choice" in result.stderr
