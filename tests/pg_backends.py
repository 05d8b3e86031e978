"""Dropping PostgreSQL connections as a restart or a failover would, for the tests of what the
service does then: by the server's own `pg_terminate_backend`, from a connection of its own."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool


def drop_backends(url: str, pids: list[int]) -> None:
    """Terminate the backends `pids` and wait until they have gone (it only signals them)."""
    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                {"pids": pids},
            )
            deadline = time.monotonic() + 5
            while connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": pids},
            ).scalar_one():
                assert time.monotonic() < deadline, "the backends did not go"
                time.sleep(0.02)
                connection.rollback()  # a transaction sees one snapshot of the statistics
    finally:
        admin.dispose()


def backends_named(url: str, application_name: str) -> list[int]:
    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": application_name},
                ).scalars()
            )
    finally:
        admin.dispose()
