"""The callback queue and the waiting list as staff see them, with 10,000 open entries each.

20 services; 10,000 open callback requests (due times spread over the coming two weeks,
German and other languages mixed) and 10,000 people waiting. Through the app in process, as an
administrator logged in to the pages (session cookie) and to the API (bearer token), each
measured `--runs` times after one warm-up, p50/p95 in ms:

- the queue page `/staff/rueckrufe` (the first page of the queue by due time), filtered by a
  concern and a language, and a page deep in the queue;
- `GET /api/v1/staff/callbacks` (default limit 200);
- the waiting-list page `/staff/warteliste` and `GET /api/v1/staff/waitlist` (length, offers
  open and the oldest entry per concern).

A benchmark, not a test: it prints figures, it asserts nothing but that the answers are 200.

    .venv/bin/python -m bench.staff_lists [--database sqlite|postgres|both] [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from bench.bench_waitlist import _admin, _analyse, _entries, _settings
from bench.common import fresh_postgres, percentile
from scheduler.callbacks_models import CallbackRequest, CallbackStatus
from scheduler.catalogue import ServiceSpec
from scheduler.db import write_session
from scheduler.references import new_reference
from scheduler.waitlist_models import WaitlistEntry
from web.app import create_app
from web.container import Container
from web.database import migrate

NOW = datetime(2031, 2, 3, 5, 0, tzinfo=UTC)  # a Monday morning, before opening
PASSWORD = "bench password 1234"
ENTRIES = 10_000
SERVICES = 20
LANGUAGES = ("de", "de", "de", "en", "tr", "ar", "uk")


def _requests(service_ids: list[int], count: int) -> list[dict[str, object]]:
    rows = []
    for n in range(count):
        start = NOW + timedelta(hours=3) + timedelta(minutes=(n * 7) % (14 * 24 * 60))
        rows.append(
            {
                "reference": new_reference(),
                "service_id": service_ids[n % len(service_ids)],
                "status": CallbackStatus.OPEN.value,
                "name": f"Anrufende {n}",
                "phone": f"0391 {100000 + n}",
                "email": f"r{n}@bench.example" if n % 2 else None,
                "phone_key": f"0391{100000 + n}",
                "email_key": f"r{n}@bench.example" if n % 2 else None,
                "language": LANGUAGES[n % len(LANGUAGES)],
                "note": "Bitte vormittags" if n % 3 else "",
                "windows": [
                    {
                        "start": start.isoformat(),
                        "end": (start + timedelta(hours=2)).isoformat(),
                    }
                ],
                "due_at": start,
                "attempts": n % 3,
                "token_version": 1,
                "created_at": NOW - timedelta(minutes=count - n),
                "updated_at": NOW,
            }
        )
    return rows


def _timed(get: Callable[[], int], runs: int) -> tuple[float, float]:
    times = []
    for n in range(runs + 1):
        started = clock.perf_counter()
        status = get()
        elapsed = (clock.perf_counter() - started) * 1000
        assert status == 200, status
        if n:  # the first warms the caches
            times.append(elapsed)
    times.sort()
    return statistics.median(times), percentile(times, 0.95)


def run(url: str, runs: int) -> None:
    app = create_app(_settings(url), clock=lambda: NOW)
    container: Container = app.state.container
    migrate(container.engine)
    admin = _admin(container)
    ids = [
        container.catalogue.create_service(admin, ServiceSpec(f"Anliegen {n}", 30, ["video"])).id
        for n in range(SERVICES)
    ]
    with write_session(container.sessions) as session:
        session.execute(insert(CallbackRequest), _requests(ids, ENTRIES))
        session.execute(insert(WaitlistEntry), _entries(ids, ENTRIES))
    _analyse(container)
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/token", json={"email": "admin@bench.example", "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
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
        measured = {
            "queue page, first page": lambda: client.get("/staff/rueckrufe").status_code,
            "queue page, one concern and language": lambda: (
                client.get(f"/staff/rueckrufe?anliegen={ids[7]}&sprache=tr").status_code
            ),
            "queue page, page 100": lambda: client.get("/staff/rueckrufe?seite=100").status_code,
            "GET /api/v1/staff/callbacks": lambda: (
                client.get("/api/v1/staff/callbacks", headers=headers).status_code
            ),
            "waiting-list page": lambda: client.get("/staff/warteliste").status_code,
            "GET /api/v1/staff/waitlist": lambda: (
                client.get("/api/v1/staff/waitlist", headers=headers).status_code
            ),
        }
        print(f"  {ENTRIES} open callback requests and {ENTRIES} waiting in {SERVICES} services")
        for name, get in measured.items():
            p50, p95 = _timed(get, runs)
            print(f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    container.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if args.database in ("sqlite", "both"):
        print("== SQLite")
        with tempfile.TemporaryDirectory() as directory:
            run(f"sqlite:///{Path(directory) / 'callbacks.db'}", args.runs)
    if args.database in ("postgres", "both"):
        print("== PostgreSQL")
        run(fresh_postgres("bench_callbacks"), args.runs)


if __name__ == "__main__":
    main()
