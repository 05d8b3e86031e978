"""What a booking request costs the server before it books: 50 keep-alive clients send 3,000
`POST /api/v1/bookings` that are refused at two depths, and the server's CPU per request is
read from /proc.

    python -m bench.request_cost

* a body that fails validation (422): uvicorn, every middleware, FastAPI's validation and the
  error answer, on the event loop;
* a valid body for a service that does not exist (404): the same, then a request thread, the
  SQLite writer lock, `BEGIN IMMEDIATE`, one query and the rollback.

Compared with `python -m bench.booking_burst --floor` (a whole booking, and the bare floor),
this tells how much of a booking's cost is the web stack and how much the booking's own work.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.booking_burst import RawClient, cpu_seconds
from bench.common import Server

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


async def send(port: int, body: object) -> dict[int, int]:
    clients = [RawClient("127.0.0.1", port) for _ in range(CLIENTS)]
    numbers = iter(range(REQUESTS))
    statuses: dict[int, int] = {}

    async def run(client: RawClient) -> None:
        for _ in numbers:
            status = await client.post_json("/api/v1/bookings", body)
            statuses[status] = statuses.get(status, 0) + 1

    try:
        await asyncio.gather(*(run(client) for client in clients))
    finally:
        for client in clients:
            await client.close()
    return statuses


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="request-cost-") as tmp:
        server = Server(f"sqlite:///{tmp}/bench.db", Path(tmp) / "server")
        server.start()
        try:
            assert server.pid is not None
            for label, body in BODIES.items():
                before, began = cpu_seconds(server.pid), time.perf_counter()
                statuses = asyncio.run(send(server.port, body))
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
