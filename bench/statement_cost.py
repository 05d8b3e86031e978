"""What running one of the booking's statements costs: through SQLAlchemy's
`Connection.execute`, as a `scheduler.direct.Direct` statement, and on the bare driver.

    python -m bench.statement_cost [--database sqlite|postgres] [--runs 5000]

On a fresh database (migrated; PostgreSQL: the database of --postgres-url, wiped), one
connection in one transaction runs `queries.BOOKING_CHECKS` (the cap and the closure day) and
`queries.BUSY` (the busy times of a service's advisors) `--runs` times each way, the ways
taken in turn in chunks of 500 so that the machine's wandering speed does not favour one.
Printed: microseconds per statement, the medians of the chunks.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from bench.booking_burst import POSTGRES_URL
from bench.common import reset_postgres
from scheduler import queries
from scheduler.db import make_engine
from scheduler.direct import Direct
from web.database import migrate

CHUNK = 500


def _ways(
    connection: Connection, statement: Any, params: dict[str, Any]
) -> dict[str, Callable[[], object]]:
    direct = Direct(statement)
    # The bare driver gets the values as Direct binds them, processed once beforehand.
    sql, values = direct.bound(connection.dialect, params)
    driver: Any = connection.connection.driver_connection
    return {
        "Connection.execute": lambda: connection.execute(statement, params).all(),
        "Direct": lambda: direct.rows(connection, params),
        "bare driver": lambda: driver.execute(sql, values).fetchall(),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statement_cost", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--runs", type=int, default=5000)
    args = parser.parse_args(argv)
    now = datetime(2031, 1, 6, 7, tzinfo=UTC)
    params = {
        "service_id": 1,
        "email_key": "erika@example.org",
        "day": date(2031, 1, 7),
        "now": now,
        "lo": now,
        "hi": now + timedelta(days=2),
        "earliest": now - timedelta(days=1),
        "exclude": 0,
    }
    with tempfile.TemporaryDirectory(prefix="statement-cost-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        if args.database == "postgres":
            url = args.postgres_url
            reset_postgres(url)
        engine = make_engine(url)
        migrate(engine)
        with engine.begin() as connection:
            for name in ("BOOKING_CHECKS", "BUSY"):
                statement = getattr(queries, name)
                ways = _ways(connection, statement, params)
                spent: dict[str, list[float]] = {way: [] for way in ways}
                for _ in range(max(1, args.runs // CHUNK)):
                    for way, run in ways.items():
                        start = time.perf_counter()
                        for _ in range(CHUNK):
                            run()
                        spent[way].append((time.perf_counter() - start) / CHUNK)
                print(f"{name} on {args.database}, µs per statement (median of chunks of {CHUNK})")
                for way, seconds in spent.items():
                    print(f"  {way:20} {statistics.median(seconds) * 1e6:7.1f}")
        engine.dispose()


if __name__ == "__main__":
    main()
