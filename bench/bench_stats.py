"""The statistics dashboard's figures over a generated year (bench/stats_year.py: 50
advisors, 100,000 bookings, 20,000 callbacks): every week and every service of the year
computed at once, as `GET /api/v1/stats` without filters does. Prints the p50 (and the
slowest) of a few runs. A benchmark, not a test: it prints figures, it asserts nothing.

    .venv/bin/python -m bench.bench_stats [--database sqlite|postgres|both] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import fresh_postgres
from bench.stats_year import generate
from scheduler.statistics import StatsQuery
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


def run(url: str, runs: int) -> list[float]:
    container = Container.build(_settings(url))
    migrate(container.engine)
    try:
        started = time.perf_counter()
        year = generate(container.engine)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
        query = StatsQuery(year.first, year.last)
        container.statistics.report(query)  # warm: imports, the connection pool
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            report = container.statistics.report(query)
            times.append((time.perf_counter() - started) * 1000)
        print(f"  {report.totals['bookings']} bookings in {len(report.weeks)} weeks")
        return times
    finally:
        container.engine.dispose()


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
            times = run(url, args.runs)
            print(
                f"  whole year, all weeks and services: p50 {statistics.median(times):.0f} ms, "
                f"slowest {max(times):.0f} ms ({args.runs} runs)"
            )


if __name__ == "__main__":
    main()
