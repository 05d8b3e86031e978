"""Documents against a running server: 100 uploads fired at once at one booking (exactly the
booking's limit is kept, the rest refused, nothing half-stored), and an upload cut off in the
middle of its body (nothing stored at all). On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

import asyncio
import io
import socket
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from PIL import Image

from bench.common import REQUEST_TIMEOUT, Server, StaffApi, booking_body, first_bookable_day
from tests.office_clock import office_today

UPLOADS = 100
MAX_FILES = 20  # the default per booking


def png(number: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (number % 256, 80, 160)).save(out, "PNG")
    return out.getvalue()


def book(server: Server, http: httpx.Client, staff: StaffApi) -> str:
    service = staff.create_service("Wohngeld")
    staff.create_advisor("Anna Berger", "anna@example.org", [service["id"]])
    first = first_bookable_day(today=office_today())
    start = staff.slots(service["id"], first, first + timedelta(days=13))[0]
    response = http.post("/api/v1/bookings", json=booking_body(service["id"], start, "e@x.org"))
    assert response.status_code == 201, response.text
    return str(response.json()["manage_url"]).rsplit("/", 1)[1]


def blobs(server: Server) -> list[Path]:
    folder = server.workdir / "data" / "documents"
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_a_hundred_uploads_at_once_keep_exactly_the_limit(
    server: Server, http: httpx.Client, staff: StaffApi
) -> None:
    token = book(server, http, staff)
    headers = {"Authorization": f"Bearer {token}"}

    async def fire() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=UPLOADS, max_keepalive_connections=UPLOADS)
        async with httpx.AsyncClient(
            base_url=server.base_url, limits=limits, timeout=REQUEST_TIMEOUT
        ) as client:
            await asyncio.gather(*(client.get("/healthz") for _ in range(UPLOADS)))
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/booking/documents",
                        headers=headers,
                        files={"file": (f"scan-{n}.png", png(n), "image/png")},
                        data={"label": f"Seite {n}"},
                    )
                    for n in range(UPLOADS)
                )
            )

    responses = asyncio.run(fire())

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {202: MAX_FILES, 409: UPLOADS - MAX_FILES}, statuses
    refused = {r.json()["code"] for r in responses if r.status_code == 409}
    assert refused == {"too_many_files"}
    listed = http.get("/api/v1/booking/documents", headers=headers).json()
    assert len(listed) == MAX_FILES
    assert sorted(d["id"] for d in listed) == sorted(
        r.json()["id"] for r in responses if r.status_code == 202
    )
    assert len(blobs(server)) == MAX_FILES  # no bytes of a refused one left behind


def test_an_upload_cut_off_in_its_body_stores_nothing(
    server: Server, http: httpx.Client, staff: StaffApi
) -> None:
    token = book(server, http, staff)
    boundary = "sprechstunde-boundary"
    head = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="bescheid.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + b"%PDF-1.7\n"
        + b"0" * 50_000
    )
    url = urlsplit(server.base_url)
    request = (
        "POST /api/v1/booking/documents HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + 500_000}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(request + head)  # and then the client goes away

    # The server has seen the disconnect once it answers the next request on its own.
    assert http.get("/healthz").status_code == 200
    listed = http.get("/api/v1/booking/documents", headers={"Authorization": f"Bearer {token}"})
    assert listed.json() == []
    assert blobs(server) == []
