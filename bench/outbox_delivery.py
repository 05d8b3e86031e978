"""Outbox delivery: messages/s to a local SMTP sink, and the delay from booking to arrival.

    python -m bench.outbox_delivery --database sqlite|postgres|both

An SMTP sink (aiosmtpd in a process of its own, on 127.0.0.1) takes every message and notes
when it arrived. For each database (SQLite: a new file in a temporary directory; PostgreSQL: the
database of --postgres-url, created if missing, its `public` schema dropped and migrated anew):

(a) Throughput. A few bookings through `container.scheduler` render real messages (German and
    English; video, phone and in person; text, HTML and the ICS invite); `--count` copies of their
    confirmations, each with its own recipient and Message-ID, are written straight into the
    outbox as due. One `Outbox` delivers them (`deliver_due()` until nothing is due), then a
    second batch is delivered by two `Outbox`es in two threads with an engine each, as two
    workers would. Also printed: bare SMTP sends of the same message without a database, the
    floor the outbox cannot beat (one SMTP connection per batch of 20, as the worker sends).
(b) Delay. A real `sprechstunde serve` process (embedded worker, SMTP to the sink, security
    none) takes `--bookings` bookings over HTTP at `--rate` per second, slow enough that the
    delay measures the pipeline (commit, wake the worker, claim, render MIME, SMTP) and not a
    queue. The delay runs from sending the booking request to the confirmation arriving at
    the sink (matched by recipient).

Every message must arrive exactly once; the counts are checked and printed. Timing is reported,
never asserted. Each phase stops after --seconds at the latest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as clock_time
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, update

from bench.common import (
    REQUEST_TIMEOUT,
    Server,
    StaffApi,
    booking_body,
    first_bookable_day,
    free_port,
    reset_postgres,
)
from notifications.delivery import DeliveryPolicy, Outbox, SmtpTransport, build_email
from notifications.models import OutboxMessage, OutboxStatus
from scheduler.accounts import StaffIdentity
from scheduler.catalogue import AdvisorSpec, HoursSpec, ServiceSpec
from scheduler.db import make_sessionmaker, read_session, utcnow, write_session
from scheduler.models import Role
from scheduler.requests import BookingRequest
from web.container import Container
from web.database import engine_for, migrate
from web.settings import Settings

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_mail"
BASE_URL = "https://termine.example.org"
MAIL_FROM = "Stadt Musterstadt <termine@example.org>"
LONG_HOURS = [{"weekday": day, "start": "08:00", "end": "18:00"} for day in range(5)]
WARMUP = 5


# -- the SMTP sink, in a process of its own ---------------------------------------------------


def serve_sink(port: int) -> None:
    """Serve SMTP on 127.0.0.1:`port`; answer commands read line by line from stdin
    (`count`, `take`, `stop`) with JSON lines on stdout."""
    from aiosmtpd.controller import Controller

    arrived: list[tuple[float, str, str, int]] = []
    parser = BytesHeaderParser()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            at = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes on Linux
            content = envelope.original_content or envelope.content
            headers = parser.parsebytes(content)
            arrived.append((at, str(headers["Message-ID"]), envelope.rcpt_tos[0], len(content)))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    answer: object = "ready"
    try:
        while True:
            print(json.dumps(answer), flush=True)
            command = sys.stdin.readline().strip()
            if command == "count":
                answer = len(arrived)
            elif command == "take":
                n = len(arrived)
                answer = arrived[:n]
                del arrived[:n]
            else:
                break
    finally:
        controller.stop()


@dataclass
class Arrival:
    at: float
    message_id: str
    recipient: str
    size: int


class Sink:
    """The parent's side of the sink process."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Sink:
        code = (
            "import sys; from bench.outbox_delivery import serve_sink; serve_sink(int(sys.argv[1]))"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-c", code, str(self.port)],
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._read() != "ready":
            raise RuntimeError("the SMTP sink did not start")
        return self

    def __exit__(self, *_: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            assert process.stdin is not None
            process.stdin.write("stop\n")
            process.stdin.close()
            process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(10)
        finally:
            if process.stdout is not None:
                process.stdout.close()

    def _read(self) -> Any:
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the SMTP sink exited")
        return json.loads(line)

    def _ask(self, command: str) -> Any:
        assert self._process is not None
        assert self._process.stdin is not None
        with self._lock:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
            return self._read()

    def count(self) -> int:
        return int(self._ask("count"))

    def take(self) -> list[Arrival]:
        return [Arrival(*row) for row in self._ask("take")]

    def wait_for(self, n: int, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while (count := self.count()) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return count


# -- figures ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def exactly_once(arrivals: Sequence[Arrival], expected: set[str]) -> str:
    seen = Counter(a.message_id for a in arrivals)
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    missing = len(expected - set(seen))
    stray = len(set(seen) - expected)
    verdict = "OK" if not (duplicates or missing or stray) else "FAILED"
    return f"arrived {len(arrivals)}, missing {missing}, duplicates {duplicates} -> {verdict}"


@dataclass
class Throughput:
    label: str
    count: int
    elapsed: float
    check: str
    per_worker: list[int] = field(default_factory=list)

    def line(self) -> str:
        rate = self.count / self.elapsed if self.elapsed else 0.0
        workers = f"  per worker {self.per_worker}" if len(self.per_worker) > 1 else ""
        return (
            f"  {self.label:<22} {self.count:>5} in {self.elapsed:6.2f} s = {rate:7.1f} msg/s"
            f"   {self.check}{workers}"
        )


# -- (a) throughput ---------------------------------------------------------------------------


def settings_for(url: str, sink: Sink) -> Settings:
    return Settings(
        _env_file=None,
        env="test",
        database_url=url,
        base_url=BASE_URL,
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_security="none",
        mail_from=MAIL_FROM,
        embedded_worker=False,
    )


def seed_templates(container: Container) -> list[OutboxMessage]:
    """Book four appointments the way citizens and the hotline do; their confirmations."""
    with write_session(container.sessions) as session:
        staff = container.accounts.create(
            session, email="admin@example.org", name="Admin", role=Role.ADMIN, password=None
        )
        admin = StaffIdentity.of(staff)
    catalogue = container.catalogue
    team = catalogue.create_team(admin, "Wohngeldstelle", "wohngeld@stadt.example.org")
    online = catalogue.create_service(
        admin,
        ServiceSpec(
            "Wohngeld: Erstberatung", 30, ["video", "phone"], min_notice_minutes=0, team_id=team.id
        ),
    )
    office = catalogue.create_service(
        admin,
        ServiceSpec(
            "Meldebescheinigung",
            15,
            ["in_person"],
            min_notice_minutes=0,
            address="Bürgerbüro, Rathausplatz 1, 39104 Musterstadt",
        ),
    )
    advisor, _ = catalogue.create_advisor(
        admin, AdvisorSpec("Beraterin", "beraterin@example.org", [online.id, office.id])
    )
    hours = [HoursSpec(day, clock_time(8), clock_time(18)) for day in range(5)]
    catalogue.set_weekly_hours(admin, advisor.id, hours)

    first = first_bookable_day(3)
    starts = [s.start for s in container.scheduler.slots(online.id, first, first + timedelta(7))]
    office_start = container.scheduler.slots(office.id, first, first + timedelta(7))[-1].start
    requests = [
        BookingRequest(online.id, starts[0], "video", "Erika Mustermann", "a@example.org"),
        BookingRequest(online.id, starts[1], "video", "Jane Doe", "b@example.org", language="en"),
        BookingRequest(
            online.id,
            starts[2],
            "phone",
            "Max Mustermann",
            "c@example.org",
            phone="+49 176 1234567",
        ),
        BookingRequest(
            office.id, office_start, "in_person", "John Roe", "d@example.org", language="en"
        ),
    ]
    for request in requests:
        container.scheduler.book(request)
    with write_session(container.sessions) as session:
        templates = list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "confirmation"))
        )
        # Out of the way: only the copies are delivered.
        session.execute(update(OutboxMessage).values(status=OutboxStatus.SUPERSEDED))
    return templates


def write_copies(container: Container, templates: Sequence[OutboxMessage], n: int) -> set[str]:
    """`n` due messages copied from `templates`, each with its own recipient and Message-ID."""
    now = utcnow()
    rows = []
    for i in range(n):
        t = templates[i % len(templates)]
        rows.append(
            {
                "booking_id": t.booking_id,
                "kind": t.kind,
                "recipient": f"citizen{i}@example.org",
                "language": t.language,
                "params": t.params,
                "message_id": f"<{uuid.uuid4().hex}@termine.example.org>",
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "not_before": now - timedelta(seconds=1),
                "created_at": now,
            }
        )
    with write_session(container.sessions) as session:
        session.execute(insert(OutboxMessage), rows)
    return {str(row["message_id"]) for row in rows}


def drain(outbox: Outbox, deadline: float) -> int:
    handled = 0
    while time.monotonic() < deadline and (n := outbox.deliver_due()):
        handled += n
    return handled


def sent_count(container: Container) -> int:
    with read_session(container.sessions) as session:
        query = select(func.count()).where(OutboxMessage.status == OutboxStatus.SENT)
        return int(session.scalar(query) or 0)


def _email(container: Container, message: OutboxMessage) -> EmailMessage:
    """The mail as the worker would send it (composed from the booking)."""
    now = utcnow()
    with read_session(container.sessions) as session:
        composed = container.outbox.composer.compose(session, message, now)
    assert composed is not None
    return build_email(message, composed, MAIL_FROM, now)


def throughput(url: str, sink: Sink, args: argparse.Namespace) -> list[str]:
    settings = settings_for(url, sink)
    engine = engine_for(url)
    migrate(engine)
    engine.dispose()
    container = Container.build(settings)
    transport = SmtpTransport("127.0.0.1", sink.port, security="none")
    lines = []
    try:
        templates = seed_templates(container)
        emails = [_email(container, t) for t in templates]
        sizes = [len(e.as_bytes()) for e in emails]
        lines.append(
            f"  messages: confirmations with invite, {min(sizes)}-{max(sizes)} bytes of MIME, "
            f"batch {DeliveryPolicy().batch} per claim"
        )

        # The floor: SMTP alone, batches of 20 over one connection each, no database.
        sample = emails[0]
        n_bare = max(args.count // 4, 1)
        began = time.monotonic()
        for first in range(0, n_bare, DeliveryPolicy().batch):
            with transport.connection() as send:
                for _ in range(min(DeliveryPolicy().batch, n_bare - first)):
                    send(sample)
        bare = time.monotonic() - began
        sink.wait_for(n_bare, 10)
        bare_arrived = len(sink.take())
        check = f"arrived {bare_arrived} of {n_bare}"
        lines.append(Throughput("SMTP only (no outbox)", n_bare, bare, check).line())

        # One worker.
        expected = write_copies(container, templates, args.count)
        began = time.monotonic()
        handled = drain(container.outbox, began + args.seconds)
        elapsed = time.monotonic() - began
        sink.wait_for(len(expected), 10)
        check = exactly_once(sink.take(), expected)
        lines.append(Throughput("1 worker", handled, elapsed, check).line())

        # Two workers, an engine each, started together.
        expected = write_copies(container, templates, args.count)
        engines = [engine_for(url) for _ in range(2)]
        outboxes = [
            Outbox(make_sessionmaker(e), transport, MAIL_FROM, container.outbox.composer)
            for e in engines
        ]
        handled_by = [0, 0]
        errors: list[BaseException] = []
        start = threading.Barrier(3)

        def work(i: int) -> None:
            start.wait()
            try:
                handled_by[i] = drain(outboxes[i], time.monotonic() + args.seconds)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.monotonic()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        for e in engines:
            e.dispose()
        if errors:
            raise errors[0]
        sink.wait_for(len(expected), 10)
        check = exactly_once(sink.take(), expected)
        lines.append(
            Throughput("2 workers (threads)", sum(handled_by), elapsed, check, handled_by).line()
        )
        lines.append(f"  outbox rows sent: {sent_count(container)} of {2 * args.count}")
    finally:
        container.engine.dispose()
    return lines


# -- (b) delay from booking to arrival --------------------------------------------------------


def plan_slots(staff: StaffApi, n: int) -> tuple[int, list[str]]:
    service = staff.create_service("Wohngeld", min_notice_minutes=0, horizon_days=90)
    for a in range(5):
        staff.create_advisor(f"Advisor {a}", f"advisor{a}@example.org", [service["id"]], LONG_HOURS)
    first: date = first_bookable_day(3)
    starts: list[str] = []
    while len(starts) < n:
        last = first + timedelta(days=13)
        starts += staff.slots(service["id"], first, last)
        first = last + timedelta(days=1)
    return service["id"], starts[:n]


def delay(url: str, workdir: Path, sink: Sink, args: argparse.Namespace) -> list[str]:
    smtp = {
        "SPRECHSTUNDE_SMTP_HOST": "127.0.0.1",
        "SPRECHSTUNDE_SMTP_PORT": str(sink.port),
        "SPRECHSTUNDE_SMTP_SECURITY": "none",
        "SPRECHSTUNDE_EMBEDDED_WORKER": "true",
    }
    server = Server(url, workdir, extra_env=smtp)
    sent: dict[str, tuple[float, float, int]] = {}  # recipient -> (sent, answered, status)
    lines = []
    try:
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
            staff = StaffApi.bootstrap(server, client)
            service_id, starts = plan_slots(staff, WARMUP + args.bookings)
            for i, start in enumerate(starts[:WARMUP]):
                body = booking_body(service_id, start, f"warmup{i}@example.org")
                client.post("/api/v1/bookings", json=body)
            sink.wait_for(WARMUP, 10)
            sink.take()

            began = time.monotonic()
            deadline = began + args.seconds
            for i, start in enumerate(starts[WARMUP:]):
                pause = began + i / args.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                if time.monotonic() > deadline:
                    break
                recipient = f"citizen{i}@example.org"
                body = booking_body(service_id, start, recipient)
                t0 = time.monotonic()
                status = client.post("/api/v1/bookings", json=body).status_code
                sent[recipient] = (t0, time.monotonic(), status)
        booked = [r for r, (_, _, status) in sent.items() if status == 201]
        sink.wait_for(len(booked), 30)
        arrivals = sink.take()
    finally:
        server.stop()

    by_recipient = Counter(a.recipient for a in arrivals)
    delays = [(a.at - sent[a.recipient][0]) * 1000 for a in arrivals if a.recipient in sent]
    requests = [(answered - t0) * 1000 for t0, answered, _ in sent.values()]
    duplicates = sum(n - 1 for n in by_recipient.values() if n > 1)
    missing = len(set(booked) - set(by_recipient))
    verdict = "OK" if not (duplicates or missing) else "FAILED"
    lines.append(
        f"  bookings        {len(booked)} answered 201 of {len(sent)} sent at {args.rate:g}/s"
    )
    lines.append(
        f"  booking request p50 {percentile(requests, 50):.1f} ms  "
        f"p99 {percentile(requests, 99):.1f} ms"
    )
    lines.append(
        f"  booking -> mail p50 {percentile(delays, 50):.1f} ms  "
        f"p90 {percentile(delays, 90):.1f} ms  p99 {percentile(delays, 99):.1f} ms  "
        f"max {max(delays, default=float('nan')):.1f} ms"
    )
    lines.append(
        f"  confirmations   arrived {len(arrivals)}, missing {missing}, "
        f"duplicates {duplicates} -> {verdict}"
    )
    errors = [line for line in server.log().splitlines() if "Traceback" in line or "ERROR" in line]
    if errors:
        lines.append(f"  server log has {len(errors)} error lines, e.g. {errors[0]}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox_delivery", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="a database of its own: it is created if missing and wiped (default %(default)s)",
    )
    parser.add_argument("--count", type=int, default=2000, help="messages per throughput run")
    parser.add_argument("--bookings", type=int, default=200, help="bookings for the delay")
    parser.add_argument("--rate", type=float, default=20.0, help="bookings per second")
    parser.add_argument("--seconds", type=float, default=120.0, help="time limit per phase")
    args = parser.parse_args(argv)

    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(
        f"outbox delivery: {args.count} messages per throughput run, {args.bookings} bookings "
        f"at {args.rate:g}/s for the delay; SMTP sink on 127.0.0.1"
    )
    failed = False
    with tempfile.TemporaryDirectory(prefix="outbox-delivery-") as tmp, Sink() as sink:
        for database in databases:
            workdir = Path(tmp) / database
            workdir.mkdir()

            def url(name: str, database: str = database, workdir: Path = workdir) -> str:
                if database == "sqlite":
                    return f"sqlite:///{workdir / name}"
                reset_postgres(args.postgres_url)
                return str(args.postgres_url)

            print(f"== {database}: (a) outbox throughput", flush=True)
            for line in throughput(url("throughput.db"), sink, args):
                print(line, flush=True)
                failed = failed or "FAILED" in line
            print(f"== {database}: (b) booking -> mail at the SMTP sink", flush=True)
            for line in delay(url("delay.db"), workdir / "server", sink, args):
                print(line, flush=True)
                failed = failed or "FAILED" in line
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
