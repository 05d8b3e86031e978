"""SIGTERM to `sprechstunde serve`, as an orchestrator stops an instance: an open signaling
WebSocket is closed at once with 1012 (service restart), on which the room page reconnects,
through the proxy, to another instance; a request under way still gets its whole answer; the
process then exits cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from contextlib import AsyncExitStack

import httpx
import pytest

from bench.common import Server, StaffApi
from signaling.client import SignalingClient, SignalingClosed
from tests.e2e.video import host_ticket, open_room

pytestmark = pytest.mark.timeout(90)


def _slow_request(server: Server, body: bytes) -> socket.socket:
    """A POST whose head and first half of the body are sent; the rest follows later."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (
        "POST /api/v1/callbacks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock


def _answer(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _get_health(server: Server) -> None:
    httpx.get(f"{server.base_url}/healthz", timeout=10).raise_for_status()


def test_sigterm_closes_websockets_for_a_reconnect_and_finishes_requests(server, http):
    staff = StaffApi.bootstrap(server, http)
    service = staff.create_service("Wohngeld", channels=["phone"])
    room = open_room(http, staff)
    ticket = host_ticket(http, staff, room)
    body = json.dumps(
        {
            "service_id": service["id"],
            "name": "Erika Mustermann",
            "phone": "0391 5551234",
            "windows": [],
        }
    ).encode()

    async def scenario() -> tuple[int | None, float]:
        async with AsyncExitStack() as stack:
            client = await SignalingClient.connect(ticket["signaling_url"], ticket["ticket"])
            stack.push_async_callback(client.close)
            sock = _slow_request(server, body)
            stack.callback(sock.close)
            # A request is under way once the server has read its head. Until then uvicorn
            # counts the connection as idle and closes it at shutdown: on a slow machine the
            # SIGTERM could come first. An answer on another connection, sent after the head,
            # comes back only after the server's loop has read what was already waiting.
            await asyncio.to_thread(_get_health, server)
            stopped = time.monotonic()
            assert server.pid is not None
            os.kill(server.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(5):
                    while True:
                        await client.receive()
            except SignalingClosed as closed:
                code = closed.code
            seconds = time.monotonic() - stopped
            await asyncio.sleep(0.3)  # the server is shutting down meanwhile
            sock.sendall(body[len(body) // 2 :])
            answer = await asyncio.to_thread(_answer, sock)
            status_line = answer.split(b"\r\n", 1)[0]
            assert status_line.startswith(b"HTTP/1.1 "), answer[:200]
            assert int(status_line.split()[1]) < 500, answer[:500]
            return code, seconds

    code, seconds = asyncio.run(scenario())
    assert code == 1012
    assert seconds < 2
    # uvicorn shuts down, then ends by the signal it caught (so -15 is a clean end here).
    assert server.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete." in server.log()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.base_url}/healthz", timeout=1)
