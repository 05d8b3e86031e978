"""`sprechstunde serve --workers 2`: the worker processes must share the rate limits and the
used ALTCHA solutions. Without Redis each would keep its own (a solution accepted once per
process, every limit multiplied), so the command refuses to start; with Redis a solution is
accepted once, whichever worker sees it.

The servers run on the real clock: a clock of their own serves with one worker only, and
nothing here depends on the date.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import altcha
import httpx
import pytest

from bench.common import REQUEST_TIMEOUT, Server, ServerFailed, booking_body

# Cheap proofs of work, so that solving in Python takes milliseconds.
CHEAP_ALTCHA = {"SPRECHSTUNDE_ALTCHA_COST": "5", "SPRECHSTUNDE_ALTCHA_MAX_NUMBER": "200"}

pytestmark = pytest.mark.timeout(120)


def test_serve_with_two_workers_and_no_redis_refuses_to_start(database_url: str, tmp_path: Path):
    server = Server(database_url, tmp_path / "server", workers=2, migrate=False)
    try:
        with pytest.raises(ServerFailed) as failed:
            server.start()
    finally:
        server.stop()

    assert "server exited with 2" in str(failed.value)
    assert "needs SPRECHSTUNDE_REDIS_URL" in server.log()


def test_with_redis_two_workers_accept_one_proof_of_work_once(
    database_url: str, workers_redis_url: str, tmp_path: Path
):
    env = {"SPRECHSTUNDE_REDIS_URL": workers_redis_url, **CHEAP_ALTCHA}
    with Server(
        database_url, tmp_path / "server", workers=2, extra_env=env, migrate=False
    ) as server:
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
            challenge = altcha.Challenge.from_dict(client.get("/api/v1/altcha/challenge").json())
        solution = altcha.solve_challenge(challenge, timeout=10)
        assert solution is not None
        payload = altcha.Payload(challenge, solution).to_base64()
        # No such service: a booking that passes the proof check ends in a 404, one whose
        # proof was used before in a 422 altcha_invalid.
        start = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0).isoformat()
        body = booking_body(999_999, start, "erika@example.org")
        codes = []
        for _ in range(12):
            # A connection of its own per request, so that both workers get their turn.
            with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
                answer = client.post("/api/v1/bookings", json=body, headers={"X-Altcha": payload})
            codes.append(answer.json().get("code"))

    assert codes.count("altcha_invalid") == 11, codes


SOMAXCONN = int(Path("/proc/sys/net/core/somaxconn").read_text())


def test_with_two_workers_the_metrics_add_up_both_processes(
    database_url: str, workers_redis_url: str, tmp_path: Path
):
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"left over from an earlier run")
    env = {"SPRECHSTUNDE_REDIS_URL": workers_redis_url, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    searches = 24
    with Server(
        database_url, tmp_path / "server", workers=2, extra_env=env, migrate=False
    ) as server:
        for _ in range(searches):
            # A connection of its own per search, so that both workers get their turn.
            with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
                client.get("/api/v1/services/999999/slots", params={"start": "2031-01-06"})
        writers = {path.stem.rsplit("_", 1)[1] for path in shared.glob("histogram_*.db")}
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
            scraped = client.get("/metrics").text

    assert len(writers) == 2, f"only {writers} searched: the test proves nothing"
    assert not (shared / "counter_1.db").exists()  # an earlier run's values are not added
    counted = next(
        line
        for line in scraped.splitlines()
        if line.startswith("sprechstunde_slot_search_seconds_count")
    )
    assert float(counted.split()[-1]) == searches
    # Both processes listen on the one socket uvicorn made (its backlog, 2048, below the
    # kernel's somaxconn): whichever answers reads that socket's queue.
    limit = next(
        line for line in scraped.splitlines() if line.startswith("sprechstunde_accept_queue_limit")
    )
    assert float(limit.split()[-1]) == min(2048, SOMAXCONN)
