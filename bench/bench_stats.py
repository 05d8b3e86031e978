"""The statistics dashboard's figures over a generated year (bench/stats_year.py: 50
advisors, 100,000 bookings, 20,000 callbacks): every week and every service of the year
computed at once, as `GET /api/v1/stats` without filters does; then, through the app in
process as a logged-in administrator, the dashboard page `/staff/statistik` over the whole year
(the figures, seven charts and their tables) and `GET /api/v1/stats` for the year. Prints the
p50 (and the slowest) of a few runs of each. A benchmark, not a test: it prints figures, it
asserts nothing but that the answers are 200.

    .venv/bin/python -m bench.bench_stats [--database sqlite|postgres|both] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from bench.bench_waitlist import PASSWORD, _admin
from bench.common import fresh_postgres
from bench.stats_year import Year, generate
from scheduler.statistics import StatsQuery
from web.app import create_app
from web.container import Container
from web.database import migrate
from web.settings import Settings


def _settings(url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=url,
        env="test",
        secret_key="bench-secret-key-that-is-long-enough-0123",
        base_url="http://bench.example",
        embedded_worker=False,
        freeze_startup_objects=False,
    )


def _timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm: imports, the connection pool, compiled templates
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _print(what: str, times: list[float]) -> None:
    print(
        f"  {what}: p50 {statistics.median(times):.0f} ms, "
        f"slowest {max(times):.0f} ms ({len(times)} runs)"
    )


def _logged_in(client: TestClient) -> dict[str, str]:
    """Log the administrator in to the pages (session cookie); the API's bearer header."""
    client.get("/staff/login")
    login = client.post(
        "/staff/login",
        data={
            "csrf_token": client.cookies["csrf"],
            "email": "admin@bench.example",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert login.status_code == 303, login.text
    token = client.post(
        "/api/v1/auth/token", json={"email": "admin@bench.example", "password": PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _ok(client: TestClient, path: str, headers: dict[str, str] | None = None) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])


def _through_the_app(settings: Settings, year: Year, runs: int) -> None:
    # The office clock the day after the generated year: the whole year lies in the past.
    now = datetime.combine(year.last + timedelta(days=1), datetime.min.time(), UTC)
    app = create_app(settings, clock=lambda: now)
    _admin(app.state.container)
    period = f"von={year.first.isoformat()}&bis={year.last.isoformat()}"
    with TestClient(app) as client:
        headers = _logged_in(client)
        _print(
            "dashboard page /staff/statistik, whole year",
            _timed(lambda: _ok(client, f"/staff/statistik?{period}"), runs),
        )
        api = f"/api/v1/stats?start={year.first.isoformat()}&end={year.last.isoformat()}"
        _print("GET /api/v1/stats, whole year", _timed(lambda: _ok(client, api, headers), runs))


def run(url: str, runs: int) -> None:
    settings = _settings(url)
    container = Container.build(settings)
    migrate(container.engine)
    try:
        started = time.perf_counter()
        year = generate(container.engine)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
        query = StatsQuery(year.first, year.last)
        report = container.statistics.report(query)
        print(f"  {report.totals['bookings']} bookings in {len(report.weeks)} weeks")
        _print(
            "Statistics.report, whole year, all weeks and services",
            _timed(lambda: container.statistics.report(query), runs),
        )
    finally:
        container.engine.dispose()
    _through_the_app(settings, year, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    targets = []
    if args.database in ("sqlite", "both"):
        targets.append("sqlite")
    if args.database in ("postgres", "both"):
        targets.append("postgres")
    for target in targets:
        with tempfile.TemporaryDirectory() as directory:
            if target == "sqlite":
                url = f"sqlite:///{Path(directory) / 'stats.db'}"
            else:
                url = fresh_postgres("sprechstunde_bench_stats")
            print(f"{target}:")
            run(url, args.runs)


if __name__ == "__main__":
    main()
