"""End-to-end fixtures: a real `sprechstunde serve` process on a fresh database, driven over
HTTP on 127.0.0.1.

The database comes from the `database_url` fixture of tests/conftest.py: a new SQLite file
under tmp_path, or the truncated PostgreSQL schema of SPRECHSTUNDE_TEST_DATABASE_URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common import REQUEST_TIMEOUT, Server, StaffApi
from tests import office_clock

_failed = pytest.StashKey[bool]()

# Two server processes meet only through a shared PostgreSQL database and Redis: one SQLite
# file with an in-process bus each cannot connect them, so without both the test is no test.
collect_ignore: list[str] = []
if not (
    os.environ.get("SPRECHSTUNDE_TEST_DATABASE_URL", "").startswith("postgresql")
    and os.environ.get("SPRECHSTUNDE_TEST_REDIS_URL")
):
    collect_ignore.append("test_two_processes.py")
    collect_ignore.append("test_topology.py")
if not os.environ.get("SPRECHSTUNDE_TEST_DATABASE_URL", "").startswith("postgresql"):
    collect_ignore.append("test_restore_drill.py")  # pg_dump and pg_restore: PostgreSQL's own


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_failed] = report.failed
    return report


@pytest.fixture
def server(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A running server; stopped afterwards, also when the test or the start-up fails."""
    # The test's database is migrated already (tests/conftest.py).
    server = office_clock.server(database_url, tmp_path / "server", migrate=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if request.node.stash.get(_failed, False):
            print(f"---- server log ({server.log_path}) ----\n{server.log()[-20_000:]}")


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
        yield client


@pytest.fixture
def staff(server: Server, http: httpx.Client) -> StaffApi:
    """An administrator created with `sprechstunde create-user`, logged in over HTTP."""
    return StaffApi.bootstrap(server, http)
