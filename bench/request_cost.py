"""What a request costs the server: 50 keep-alive clients send 3,000 `POST /api/v1/bookings`
that are refused at two depths, then 3,000 slot searches whose answer is kept, and the
server's CPU per request is read from /proc.

    python -m bench.request_cost

* a body that fails validation (422): uvicorn, every middleware, FastAPI's validation and the
  error answer, on the event loop;
* a valid body for a service that does not exist (404): the same, then a request thread, the
  SQLite writer lock, `BEGIN IMMEDIATE`, one query and the rollback;
* a slot search of ten advisors' fortnight, answered from the kept free times
  (`scheduler/slot_cache.py`, `web/kept_searches.py`): what each of the crowd's searches
  costs the morning the slots are released.

Compared with `python -m bench.booking_burst --floor` (a whole booking, and the bare floor),
this tells how much of a booking's cost is the web stack and how much the booking's own work.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from bench.booking_burst import RawClient, cpu_seconds
from bench.common import Server, StaffApi, first_bookable_day

REQUESTS = 3000
CLIENTS = 50
BODIES = {
    "422 invalid body": {"service_id": "x"},
    "404 unknown service": {
        "service_id": 999_999,
        "start": "2031-01-07T09:00:00+01:00",
        "channel": "video",
        "name": "Erika Mustermann",
        "email": "erika@example.org",
    },
}


async def send(port: int, body: object, path: str = "/api/v1/bookings") -> dict[int, int]:
    clients = [RawClient("127.0.0.1", port) for _ in range(CLIENTS)]
    numbers = iter(range(REQUESTS))
    statuses: dict[int, int] = {}

    async def run(client: RawClient) -> None:
        for _ in numbers:
            if body is None:
                status = await client.request("GET", path)
            else:
                status = await client.post_json(path, body)
            statuses[status] = statuses.get(status, 0) + 1

    try:
        await asyncio.gather(*(run(client) for client in clients))
    finally:
        for client in clients:
            await client.close()
    return statuses


def searched_fortnight(server: Server) -> str:
    """The path of a search over the fortnight of a service with ten advisors, searched once
    so that its answer is kept."""
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        staff = StaffApi.bootstrap(server, http)
        service = staff.create_service("Grundsicherung")
        for n in range(10):
            staff.create_advisor(f"Advisor {n}", f"a{n}@example.org", [service["id"]])
        first = first_bookable_day()
        path = (
            f"/api/v1/services/{service['id']}/slots?start={first}&end={first + timedelta(days=13)}"
        )
        http.get(path).raise_for_status()
    return path


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="request-cost-") as tmp:
        server = Server(f"sqlite:///{tmp}/bench.db", Path(tmp) / "server")
        server.start()
        try:
            assert server.pid is not None
            cases = [(label, body, "/api/v1/bookings") for label, body in BODIES.items()]
            cases.append(("200 kept slot search", None, searched_fortnight(server)))
            for label, body, path in cases:
                before, began = cpu_seconds(server.pid), time.perf_counter()
                statuses = asyncio.run(send(server.port, body, path))
                elapsed = time.perf_counter() - began
                cpu = cpu_seconds(server.pid) - before
                print(
                    f"{label:22} {REQUESTS / elapsed:7.0f} requests/s  "
                    f"server CPU {cpu / REQUESTS * 1000:.2f} ms/request  answers {statuses}"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
