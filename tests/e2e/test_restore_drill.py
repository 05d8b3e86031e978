"""The restore drill of docs/operations.md, run for real on PostgreSQL: `pg_dump` of the live
database while the service answers, `pg_restore` into a fresh database, and a second service on
the restored copy answers with every booking (the staff list, each citizen's link) and takes
new bookings (the sequences came along).

Collected only with SPRECHSTUNDE_TEST_DATABASE_URL on PostgreSQL (tests/e2e/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from bench.common import REQUEST_TIMEOUT, StaffApi, booking_body, reset_postgres
from tests import office_clock
from tests.office_clock import office_today

pytestmark = [pytest.mark.office_clock, pytest.mark.timeout(120)]
# The public address of both services, as behind the city's proxy: the tokens name it as their
# issuer, and the links mailed before the restore must keep working after it.
PUBLIC = {"SPRECHSTUNDE_BASE_URL": "https://termine.example.org"}


def _libpq(url: str) -> str:
    """The address pg_dump and pg_restore understand (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _beside(url: str, suffix: str) -> str:
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(False)


def test_a_dump_of_the_live_database_restores_into_a_service_with_every_booking(tmp_path: Path):
    test_url = os.environ["SPRECHSTUNDE_TEST_DATABASE_URL"]
    live_url, restored_url = _beside(test_url, "drill_live"), _beside(test_url, "drill_restored")
    reset_postgres(live_url)
    reset_postgres(restored_url)
    live = office_clock.server(live_url, tmp_path / "live", extra_env=PUBLIC)
    with live, httpx.Client(base_url=live.base_url, timeout=REQUEST_TIMEOUT) as http:
        staff = StaffApi.bootstrap(live, http)
        service = staff.create_service("Wohngeld")
        staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
        first = office_today() + timedelta(days=4)
        times = staff.slots(service["id"], first, first + timedelta(days=13))[:6]
        made = []
        for n, start in enumerate(times):
            answer = http.post(
                "/api/v1/bookings", json=booking_body(service["id"], start, f"p{n}@example.org")
            )
            assert answer.status_code == 201, answer.text
            made.append(answer.json())
        dump = tmp_path / "sprechstunde.dump"
        # While the service runs: pg_dump reads one consistent snapshot without stopping it.
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}", _libpq(live_url)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        assert http.get("/readyz").status_code == 200
        listed_live = staff.bookings(first, first + timedelta(days=13))

    subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={_libpq(restored_url)}",
            str(dump),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # The same secret key: the links already mailed keep working.
    restored = office_clock.server(
        restored_url, tmp_path / "restored", secret_key=live.secret_key, extra_env=PUBLIC
    )
    with restored, httpx.Client(base_url=restored.base_url, timeout=REQUEST_TIMEOUT) as http:
        staff = StaffApi.log_in(http)
        listed = staff.bookings(first, first + timedelta(days=13))
        assert sorted(b["reference"] for b in listed) == sorted(b["reference"] for b in made)
        assert listed == listed_live
        for booking in made:
            token = booking["manage_url"].rsplit("/", 1)[1]
            seen = http.get("/api/v1/booking", headers={"Authorization": f"Bearer {token}"})
            assert seen.status_code == 200, seen.text
            assert seen.json()["reference"] == booking["reference"]
        later = staff.slots(service["id"], first, first + timedelta(days=13))
        fresh = http.post(
            "/api/v1/bookings", json=booking_body(service["id"], later[0], "new@example.org")
        )
        assert fresh.status_code == 201, fresh.text
