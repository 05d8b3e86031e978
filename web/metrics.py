"""`/metrics` in Prometheus's text format (prometheus-client).

Two kinds of figures:
- counted where they happen, in the process answering (bookings by outcome, the latency of
  slot searches and bookings, answers by status class, open signaling connections and rooms).
  With several processes on one host (`serve --workers N`) each writes its values to the files
  in `PROMETHEUS_MULTIPROC_DIR` (web/cli.py provides one) and a scrape adds them up;
- read from the database at each scrape, the same whichever instance answers: the outbox
  (backlog, the age of its oldest due message, failed attempts, dead letters) and the
  documents by the scanner's verdict. The mail and scan workers run apart from the app
  instances, so what they did is read where they leave it;
- read from the kernel at each scrape: the connections waiting to be taken up
  (web/accept_queue.py).

Only addresses in `SPRECHSTUNDE_METRICS_ALLOW` may read it (default: loopback).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from documents.models import BookingDocument
from notifications.models import OutboxMessage, OutboxStatus
from scheduler.db import read_session
from web.accept_queue import AcceptQueue

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"
# A `_created` series per counter says when this process started counting: noise to a scrape.
disable_created_metrics()
# Counted in this process; in multi-process mode the registry only names them, the values
# come from the files.
OWN = CollectorRegistry(auto_describe=True)
# Seconds: a slot search and a booking answer in milliseconds; the top buckets catch a queue.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

BOOKINGS = Counter(
    "sprechstunde_bookings",
    "Attempts to book, by outcome: booked, conflict (the time was taken), invalid, limited "
    "(rate limit or proof of work), refused (other 4xx), error (5xx).",
    ["outcome"],
    registry=OWN,
)
SLOT_SEARCH_SECONDS = Histogram(
    "sprechstunde_slot_search_seconds",
    "Time to answer a slot search (the API's and the booking page's).",
    buckets=_BUCKETS,
    registry=OWN,
)
BOOKING_SECONDS = Histogram(
    "sprechstunde_booking_seconds",
    "Time to answer an attempt to book, whatever its outcome.",
    buckets=_BUCKETS,
    registry=OWN,
)
RESPONSES = Counter(
    "sprechstunde_http_responses",
    "HTTP answers by status class (2xx, 3xx, 4xx, 5xx).",
    ["status"],
    registry=OWN,
)
WEBSOCKETS = Gauge(
    "sprechstunde_signaling_connections",
    "Open signaling WebSockets on this instance.",
    multiprocess_mode="livesum",
    registry=OWN,
)
ROOMS = Gauge(
    "sprechstunde_rooms_open",
    "Video rooms with a participant connected to this instance (a room whose participants "
    "are on two instances counts on both).",
    multiprocess_mode="livesum",
    registry=OWN,
)

LOOP_LAG_SECONDS = Histogram(
    "sprechstunde_event_loop_lag_seconds",
    "How late this process's event loop ran a timer (one every 0.1 s). Requests wait at least "
    "that long before they are read, which the latency histograms, counted from the reading, "
    "leave out: above a few milliseconds the instance is saturated.",
    buckets=(0.001, 0.0025, *_BUCKETS),
    registry=OWN,
)
LAG_INTERVAL = 0.1

# (method, route pattern) of the attempts to book and of the slot searches.
BOOKING_ROUTES = frozenset(
    {
        ("POST", "/api/v1/bookings"),
        ("POST", "/api/v1/staff/bookings"),
        ("POST", "/api/v1/offer/accept"),
        ("POST", "/api/v1/staff/callbacks/{callback_id}/book"),
        ("POST", "/buchen/{service_id}/angaben"),
    }
)
SLOT_SEARCH_ROUTES = frozenset(
    {("GET", "/api/v1/services/{service_id}/slots"), ("GET", "/buchen/{service_id}/zeit")}
)


def booking_outcome(status: int) -> str:
    if status in (200, 201, 303):  # the booking page leads on to its confirmation
        return "booked"
    if status == 409:
        return "conflict"
    if status in (400, 422):
        return "invalid"
    if status == 429:
        return "limited"
    return "error" if status >= 500 else "refused"


async def watch_loop_lag(
    observe: Callable[[float], None] = LOOP_LAG_SECONDS.observe, interval: float = LAG_INTERVAL
) -> None:
    """Until cancelled: how late each timer, one every `interval` seconds, runs (seconds)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        observe(max(loop.time() - due, 0.0))


def observe_signaling(connections: int, rooms: int) -> None:
    """The hub's observer (signaling/hub.py)."""
    WEBSOCKETS.set(connections)
    ROOMS.set(rooms)


class Allowed:
    def __init__(self, entries: list[str]) -> None:
        self._networks = [ipaddress.ip_network(entry, strict=False) for entry in entries]

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # not an address at all (a test client, a Unix socket)
        return any(ip in network for network in self._networks)


class Stored(Collector):
    """The figures read from the database at each scrape."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        due = OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))
        with read_session(self._sessions) as session:
            outbox = session.execute(
                select(
                    func.count().filter(due, OutboxMessage.not_before <= now),
                    func.min(OutboxMessage.not_before).filter(due, OutboxMessage.not_before <= now),
                    func.count().filter(OutboxMessage.status == OutboxStatus.DEAD),
                    # A sent message failed all its attempts but the last, any other all.
                    func.coalesce(
                        func.sum(
                            OutboxMessage.attempts
                            - case((OutboxMessage.status == OutboxStatus.SENT, 1), else_=0)
                        ),
                        0,
                    ),
                )
            ).one()
            verdicts = dict(
                session.execute(
                    select(BookingDocument.status, func.count()).group_by(BookingDocument.status)
                ).all()
            )
        backlog, oldest, dead, failed = outbox
        yield _gauge("sprechstunde_outbox_backlog", "Messages due and not yet sent.", backlog)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        yield _gauge(
            "sprechstunde_outbox_oldest_due_seconds",
            "How long the oldest message due has waited to be sent (0 when none waits).",
            age,
        )
        yield _gauge(
            "sprechstunde_outbox_dead_letters",
            "Messages given up (rejected for good or out of attempts), kept for staff to send "
            "again, until the retention purge.",
            dead,
        )
        yield _gauge(
            "sprechstunde_email_failed_attempts",
            "Failed attempts to send the messages in the outbox (the retention purge removes "
            "old messages with theirs).",
            max(0, int(failed)),
        )
        family = GaugeMetricFamily(
            "sprechstunde_documents",
            "Documents handed in, by the virus scanner's verdict (pending: not yet checked).",
            labels=["verdict"],
        )
        for verdict in ("pending", "clean", "rejected"):
            family.add_metric([verdict], verdicts.get(verdict, 0))
        yield family


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def process_ended() -> None:
    """Take this process's live gauges out of the sum (multi-process mode only)."""
    if os.environ.get(MULTIPROCESS):
        mark_process_dead(os.getpid())


# Read from the kernel at each scrape; it remembers where the listening sockets are.
ACCEPT_QUEUE = AcceptQueue()


def exposition(stored: Stored) -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROCESS):
        MultiProcessCollector(registry)
    else:
        registry.register(_Own())
    registry.register(stored)
    registry.register(ACCEPT_QUEUE)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Own(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from OWN.collect()
