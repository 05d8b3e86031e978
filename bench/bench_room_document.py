"""Opening a document in the video room: how long until its first page image is served.

    python -m bench.bench_room_document [--runs 7] [--pages 50] [--width 800]

A `sprechstunde serve` process on a fresh SQLite database with the demo data and a real clamd
(tests/documents/clamd.py), on an office clock inside a booking's room window (booked first
on a server a week earlier, as tests/browser/test_room_documents_browser.py does). Each run
hands in a fresh PDF of `--pages` pages through the desk and has clamd scan it, then times,
as the citizen's browser with the join link, `GET /raum/unterlagen/{id}/seiten/1.png` at the
panel's width: the first request for that document, so the server's page cache is cold.
Printed per run and as p50/p90. Goal (reported, never asserted): under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.common import percentile
from scheduler.db import read_session
from scheduler.models import Booking
from tests.browser.test_room_documents_browser import (
    BOOKED_AT,
    _book,
    _container,
    _server,
    _start_again,
)
from tests.documents.clamd import running_clamd
from tests.web.pages.test_room_documents import make_pages_pdf

GOAL_MS = 1000.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_room_document", description=__doc__
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--width", type=int, default=800)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, running_clamd(Path(tmp)) as clamd:
        workdir = Path(tmp) / "site"
        workdir.mkdir()
        booking_server = _server(workdir, BOOKED_AT, clamd)
        booking_server.cli("migrate")
        booking_server.cli("seed-demo")
        booking_server.start()
        try:
            booking = _book(booking_server, clamd)
        finally:
            booking_server.stop()
        at = booking["start"] - timedelta(minutes=5)
        server = _server(workdir, at, clamd, booking_server)
        _start_again(server, booking_server)
        container = _container(server, clamd)
        desk = container.documents
        pdf = make_pages_pdf(args.pages)
        try:
            with read_session(container.sessions) as session:
                found = select(Booking.id).where(Booking.reference == booking["reference"])
                booking_id = session.scalar(found)
            assert booking_id is not None
            times: list[float] = []
            with httpx.Client(base_url=server.base_url, timeout=30) as citizen:
                citizen.get(f"/j/{booking['join_token']}")  # the link cookie, as a browser
                for run in range(1, args.runs + 1):
                    info = desk.hand_in(booking_id, pdf, f"bescheid-{run}.pdf", f"Run {run}")
                    desk.scan_pending()
                    url = f"/raum/unterlagen/{info.id}/seiten/1.png?breite={args.width}"
                    started = time.perf_counter()
                    answer = citizen.get(url)
                    elapsed = (time.perf_counter() - started) * 1000
                    answer.raise_for_status()
                    times.append(elapsed)
                    print(f"run {run}: first page {elapsed:.0f} ms ({len(answer.content)} bytes)")
                    # Within the booking's quota: the next run hands in another.
                    desk.delete(booking_id, info.id)
        finally:
            container.engine.dispose()
            server.stop()
    p50, p90 = percentile(times, 0.5), percentile(times, 0.9)
    print(
        f"{args.pages}-page PDF, width {args.width}: p50 {p50:.0f} ms, p90 {p90:.0f} ms, "
        f"mean {statistics.mean(times):.0f} ms over {len(times)} runs"
    )
    print(f"goal first page < {GOAL_MS:.0f} ms: {'met' if p90 < GOAL_MS else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
