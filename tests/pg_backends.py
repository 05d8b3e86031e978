"""Dropping PostgreSQL connections as a restart or a failover would, for the tests of what the
service does then: by the server's own `pg_terminate_backend`, from a connection of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from web.settings import Settings


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


def backends_of_database(url: str) -> list[int]:
    """Every backend connected to the database of `url`, but the one asking."""
    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.connect() as connection:
            return list(
                connection.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
    finally:
        admin.dispose()


@contextmanager
def database_away(url: str, application_name: str) -> Iterator[None]:
    """The database of `url` takes no new connections and has dropped those of
    `application_name`, as while its server restarts; back as it was on leaving."""
    database = make_url(url)
    # From the server's own database: one cannot close the database one is connected to.
    outside = database.set(database="postgres").render_as_string(hide_password=False)
    pids = backends_named(url, application_name)
    admin = create_engine(outside, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as away:
            away.execute(text(f'ALTER DATABASE "{database.database}" ALLOW_CONNECTIONS false'))
            try:
                drop_backends(outside, pids)
                yield
            finally:
                away.execute(text(f'ALTER DATABASE "{database.database}" ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()


def named(settings: Settings, application_name: str) -> Settings:
    """`settings` whose database connections carry `application_name`, for `backends_named`."""
    separator = "&" if "?" in settings.database_url else "?"
    url = f"{settings.database_url}{separator}application_name={application_name}"
    return settings.model_copy(update={"database_url": url})
