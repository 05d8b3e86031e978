"""`sprechstunde_accept_queue_connections` (web/accept_queue.py): connections the kernel has
accepted and the server has not taken up, read from real listening sockets of this process."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.test_metrics import LOOPBACK, samples, value
from web.accept_queue import ListeningSockets

BACKLOG = 23  # unlike any other listening socket of the test process


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A listening socket nobody accepts on, as a server whose event loop is busy."""
    with socket.create_server(("127.0.0.1", 0), backlog=BACKLOG) as server:
        yield server


def connect(server: socket.socket) -> socket.socket:
    # The kernel completes the handshake and queues the connection without the server.
    return socket.create_connection(server.getsockname()[:2], timeout=5)


def test_queued_connections_are_counted_until_the_server_takes_them(app: FastAPI, listening):
    def queued(found: dict) -> float:
        return value(found, "sprechstunde_accept_queue_connections")

    opened: list[socket.socket] = []
    with TestClient(app, client=LOOPBACK) as monitor:
        before = samples(monitor)
        try:
            opened += [connect(listening) for _ in range(3)]
            waiting = samples(monitor)
            assert queued(waiting) == queued(before) + 3
            assert value(waiting, "sprechstunde_accept_queue_limit") >= BACKLOG
            opened += [listening.accept()[0] for _ in range(3)]
            assert queued(samples(monitor)) == queued(before)
        finally:
            for sock in opened:
                sock.close()


def test_a_closed_socket_is_forgotten_and_a_new_one_found():
    sockets = ListeningSockets()
    with socket.create_server(("127.0.0.1", 0), backlog=BACKLOG) as first:
        known = sockets.queues()
        assert known is not None
        assert (0, BACKLOG) in known
        client = connect(first)
        assert (1, BACKLOG) in (sockets.queues() or [])
        client.close()
    with socket.create_server(("::1", 0), family=socket.AF_INET6, backlog=BACKLOG + 1):
        found = sockets.queues() or []
        assert (0, BACKLOG + 1) in found
        assert all(limit != BACKLOG for _, limit in found)


def test_other_sockets_are_no_listening_sockets(tmp_path):
    sockets = ListeningSockets()
    before = sockets.queues()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unbound,
    ):
        udp.bind(("127.0.0.1", 0))
        unix.bind(str(tmp_path / "socket"))
        unix.listen()
        assert unbound.fileno() >= 0
        assert sockets.queues() == before


def test_without_proc_there_is_no_figure(tmp_path):
    assert ListeningSockets(tmp_path / "missing").queues() is None
