"""The connections waiting in this process's listening sockets: the kernel has accepted them, the
server has not yet taken them up. Their requests are unread, so no latency histogram and no
loop lag counts that wait; at a morning's release a thousand waited at each instance for ten
seconds while the instances' own figures said 99 % within 0.1 s (docs/benchmarks.md).

Read from the kernel at each scrape (Linux: `/proc/self/fd` and `TCP_INFO`). With
`serve --workers N` the processes share one listening socket, so whichever answers reads the
same queue.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_DESCRIPTORS = Path("/proc/self/fd")
# struct tcp_info (linux/tcp.h): eight one-byte fields, then tcpi_rto, tcpi_ato, tcpi_snd_mss,
# tcpi_rcv_mss; for a listening socket tcpi_unacked is the length of its accept queue and
# tcpi_sacked the queue's limit (the backlog).
_QUEUE_AND_LIMIT = struct.Struct("=24xII")


def _listening(fd: int) -> bool:
    with socket.socket(fileno=os.dup(fd)) as sock:
        return (
            sock.family in (socket.AF_INET, socket.AF_INET6)
            and sock.type == socket.SOCK_STREAM
            and bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        )


def _queue_and_limit(fd: int) -> tuple[int, int]:
    with socket.socket(fileno=os.dup(fd)) as sock:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _QUEUE_AND_LIMIT.size)
    queued, limit = _QUEUE_AND_LIMIT.unpack_from(info)
    return queued, limit


class ListeningSockets:
    """This process's listening TCP sockets, found once and looked for again only when one of
    them is gone: a busy instance holds thousands of descriptors, and they are connections."""

    def __init__(self, descriptors: Path = _DESCRIPTORS) -> None:
        self._descriptors = descriptors
        self._known: dict[int, str] = {}  # descriptor -> its link (socket:[inode])

    def _link(self, fd: int) -> str | None:
        try:
            return os.readlink(self._descriptors / str(fd))
        except OSError:
            return None  # closed in the meantime

    def _still_known(self) -> bool:
        return bool(self._known) and all(self._link(fd) == link for fd, link in self._known.items())

    def _scan(self) -> dict[int, str]:
        found = {}
        for name in os.listdir(self._descriptors):
            fd = int(name)
            link = self._link(fd)
            if link is None or not link.startswith("socket:"):
                continue
            try:
                if _listening(fd):
                    found[fd] = link
            except OSError:
                continue  # closed between the look and the question
        return found

    def queues(self) -> list[tuple[int, int]] | None:
        """(connections waiting, limit) per listening socket; None where the system cannot
        tell (not Linux)."""
        if not self._descriptors.is_dir():
            return None
        if not self._still_known():
            self._known = self._scan()
        return [_queue_and_limit(fd) for fd in self._known]


class AcceptQueue(Collector):
    def __init__(self, sockets: ListeningSockets | None = None) -> None:
        self._sockets = sockets or ListeningSockets()

    def collect(self) -> Iterator[Metric]:
        queues = self._sockets.queues()
        if queues is None:
            return
        yield GaugeMetricFamily(
            "sprechstunde_accept_queue_connections",
            "Connections the kernel holds for this instance that its server has not yet taken "
            "up. Their requests wait unread, a wait no latency histogram counts: more than a "
            "few means the instance is saturated.",
            value=sum(queued for queued, _ in queues),
        )
        yield GaugeMetricFamily(
            "sprechstunde_accept_queue_limit",
            "How many connections the listening sockets may hold: beyond it the kernel drops "
            "new ones, and clients try again after a second or more.",
            value=sum(limit for _, limit in queues),
        )
