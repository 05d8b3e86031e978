"""A morning in the city's topology (tests/e2e/topology.py: Caddy with TLS, two instances on
PostgreSQL and Redis, a worker, coturn with TURN over TLS, an SMTP server), with its faults:

- a citizen books through the proxy: the confirmation with its invite arrives once;
- citizen and advisor join over HTTPS through the proxy, land on different instances and see
  each other; the advisor's instance is killed in the call: the advisor's client reconnects
  through the proxy to the other instance on its own, and video flows again;
- a call with relay candidates only goes through coturn over TLS;
- the mail server is down for a while: every message arrives once it is back, each once;
- the worker is killed in the middle of a batch of reminders and started again: every reminder
  arrives, none twice;
- PostgreSQL drops every connection (a restart, a failover) while citizens book through the
  proxy: no answer is a server error but 503 `busy` for what was under way, which the citizen's
  retry with its idempotency key completes; every booking is made once and mailed once.

A Redis restart is played in tests/e2e/test_redis_restart.py. Collected only with PostgreSQL
and Redis (tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select

from bench.common import StaffApi, booking_body, first_bookable_day
from notifications.models import OutboxMessage
from scheduler.models import Booking
from signaling.peer import RoomPeer
from tests.e2e.topology import City, running_city, wait_until
from tests.e2e.video import enter, guest_ticket, host_ticket, let_everybody_in, open_room
from tests.office_clock import office_now, office_today
from tests.pg_backends import backends_of_database, drop_backends

pytestmark = [
    pytest.mark.office_clock,
    pytest.mark.usefixtures("loopback_ice"),
    pytest.mark.timeout(180),
]
FRAMES = 10
MAIL_SECONDS = 30.0


@pytest.fixture
def city(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[City]:
    redis_url = os.environ["SPRECHSTUNDE_TEST_REDIS_URL"]
    with running_city(tmp_path, database_url, redis_url) as running:
        # WebSockets and aiortc's TURN over TLS verify with the default context's roots: the
        # proxy's internal CA and coturn's certificate, as a trial's machines would trust them.
        bundle = tmp_path / "roots.pem"
        assert running.coturn.certificate is not None
        bundle.write_bytes(
            running.proxy.root_certificate.read_bytes() + running.coturn.certificate.read_bytes()
        )
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        try:
            yield running
        except BaseException:
            print(running.logs())
            raise


@pytest.fixture
def office(city: City) -> Iterator[tuple[httpx.Client, StaffApi, int]]:
    """An administrator through the proxy, and a service with an advisor."""
    with city.http() as http:
        staff = StaffApi.bootstrap(city.apps[0], http)
        service = staff.create_service("Wohngeld")
        staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
        yield http, staff, int(service["id"])


def _slots(staff: StaffApi, service_id: int) -> list[str]:
    first = first_bookable_day(today=office_today())
    return staff.slots(service_id, first, first + timedelta(days=13))


def _book(http: httpx.Client, service_id: int, start: str, email: str) -> dict[str, Any]:
    answer = http.post("/api/v1/bookings", json=booking_body(service_id, start, email))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _confirmations(city: City, count: int) -> Counter[str]:
    wait_until(lambda: len(city.smtp.received) >= count, MAIL_SECONDS, f"{count} messages arrived")
    return city.smtp.per_message_id()


def test_a_booking_through_the_proxy_is_mailed_once_with_its_invite(city, office):
    http, staff, service_id = office
    booking = _book(http, service_id, _slots(staff, service_id)[0], "erika@example.org")

    per_id = _confirmations(city, 1)
    [received] = city.smtp.received
    assert received.rcpt_tos == ["erika@example.org"]
    assert booking["reference"] in received.message["Subject"]
    assert any(part.get_content_type() == "text/calendar" for part in received.message.walk())
    assert set(per_id.values()) == {1}
    assert booking["manage_url"].startswith(city.proxy.base_url)


def _links_after(peer: RoomPeer, remote: str, before: tuple[object, int]) -> bool:
    link = peer.links.get(remote)
    if link is None:
        return False
    if link is before[0]:
        return link.frames >= before[1] + FRAMES  # the same connection, still flowing
    return link.frames >= FRAMES  # a new connection after the reconnect


def test_a_call_across_instances_goes_on_when_the_advisors_instance_dies(city, office):
    http, staff, _ = office
    room = open_room(http, staff)
    tickets = [host_ticket(http, staff, room), guest_ticket(http, room.guest_link, "Erika")]

    async def call() -> tuple[int, int]:
        async with AsyncExitStack() as stack:
            host, host_at = await _enter_counted(
                city, stack, tickets[0], admit=let_everybody_in, reconnect=True
            )
            for _ in range(4):  # round robin: the next connection goes to the other one
                guest, guest_at = await _enter_counted(city, stack, tickets[1], reconnect=True)
                if guest_at != host_at:
                    break
                await guest.close()
            assert guest_at != host_at, "both landed on one instance"
            await host.wait_for(lambda: host.state == "inside", 10)
            await host.wait_for(
                lambda: (
                    host.frames_from(guest.id) >= FRAMES and guest.frames_from(host.id) >= FRAMES
                ),
                40,
            )
            before_host = (host.links[guest.id], host.frames_from(guest.id))
            before_guest = (guest.links[host.id], guest.frames_from(host.id))
            city.apps[host_at].kill()
            await host.wait_for(lambda: host.reconnects >= 1, 30)
            await host.wait_for(
                lambda: (
                    _links_after(host, guest.id, before_host)
                    and _links_after(guest, host.id, before_guest)
                ),
                40,
            )
            assert not host.ended
            assert not guest.ended
            return guest_at, host.reconnects

    guest_at, reconnects = asyncio.run(asyncio.wait_for(call(), 120))
    assert reconnects == 1
    # The advisor came back through the proxy to the instance the citizen was on.
    assert city.apps[guest_at].log().count('"WebSocket /ws/signaling" [accepted]') >= 2


async def _enter_counted(
    city: City, stack: AsyncExitStack, ticket: dict[str, Any], **options: Any
) -> tuple[RoomPeer, int]:
    """A peer in the room, and the instance whose log shows its WebSocket accepted."""
    before = city.websockets()
    peer = await enter(stack, ticket, **options)
    wait_until(lambda: city.websockets() != before, 10, "the socket accepted")
    [index] = [n for n, (a, b) in enumerate(zip(before, city.websockets(), strict=True)) if a != b]
    return peer, index


def test_a_relay_only_call_goes_through_coturn_over_tls(city, office):
    http, staff, _ = office
    room = open_room(http, staff)
    tickets = [host_ticket(http, staff, room), guest_ticket(http, room.guest_link, "Erika")]

    async def call() -> list[dict[str, str] | None]:
        async with AsyncExitStack() as stack:
            host = await enter(stack, tickets[0], admit=let_everybody_in, relay_only=True)
            guest = await enter(stack, tickets[1], relay_only=True)
            await host.wait_for(
                lambda: (
                    host.frames_from(guest.id) >= FRAMES and guest.frames_from(host.id) >= FRAMES
                ),
                60,
            )
            return [host.links[guest.id].candidate_types(), guest.links[host.id].candidate_types()]

    types = asyncio.run(asyncio.wait_for(call(), 120))
    assert types == [{"local": "relay", "remote": "relay"}] * 2
    assert city.coturn.logged("ALLOCATE processed, success")
    tls_port = f"local 127.0.0.1:{city.coturn.tls_port},"
    wait_until(
        lambda: any(
            tls_port in line and "TLS/TCP connection closed" in line
            for line in city.coturn.log_text().splitlines()
        ),
        10,
        "an allocation over TLS",
    )


def _failed_attempts(engine: Engine) -> int:
    with engine.connect() as connection:
        found = connection.scalar(select(func.count()).where(OutboxMessage.last_error.is_not(None)))
    return int(found or 0)


def test_mail_down_for_a_while_then_every_message_arrives_once(city, office, database_url):
    http, staff, service_id = office
    slots = _slots(staff, service_id)
    city.smtp.stop()
    references = [
        _book(http, service_id, slots[n], f"p{n}@example.org")["reference"] for n in range(3)
    ]
    engine = create_engine(database_url)
    try:
        wait_until(lambda: _failed_attempts(engine) >= 3, 15, "an attempt at each message failed")
    finally:
        engine.dispose()
    city.smtp.start()

    per_id = _confirmations(city, 3)
    assert sorted(per_id.values()) == [1, 1, 1]
    subjects = " ".join(r.message["Subject"] for r in city.smtp.received)
    assert all(reference in subjects for reference in references)


def test_the_worker_killed_in_a_batch_of_reminders_loses_and_doubles_none(
    city, office, database_url
):
    http, staff, service_id = office
    staff.create_advisor("Colleague", "colleague@example.org", [service_id])
    slots = _slots(staff, service_id)
    day = datetime.fromisoformat(slots[0]).date()
    # Each time of one day twice (one per advisor): more reminders than a batch of 20.
    starts = 2 * [s for s in slots if datetime.fromisoformat(s).date() == day]
    assert len(starts) > 20
    for n, start in enumerate(starts):
        _book(http, service_id, start, f"p{n}@example.org")
    _confirmations(city, len(starts))
    city.worker.stop()

    # The worker's clock just after the last reminder came due and before the first
    # appointment: every reminder is due, none has expired.
    moments = [datetime.fromisoformat(s) for s in starts]
    due = max(moments) - timedelta(hours=24) + timedelta(minutes=1)
    assert due < min(moments)
    ahead = due - office_now()
    # The eighth reminder hangs at RCPT.
    city.smtp.mailbox.hold_after = city.smtp.mailbox.rcpts + 7
    city.worker.start(ahead=ahead)
    assert city.smtp.mailbox.stuck.wait(MAIL_SECONDS), city.worker.log()
    city.worker.kill()  # in the middle of its batch, a message half sent
    city.smtp.mailbox.flowing.set()
    # Later than the lease the dead worker held on its batch (five minutes).
    city.worker.start(ahead=ahead + timedelta(minutes=6))

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            reminders = set(
                connection.scalars(
                    select(OutboxMessage.message_id).where(OutboxMessage.kind == "reminder")
                )
            )
    finally:
        engine.dispose()
    assert len(reminders) == len(starts)
    wait_until(
        lambda: reminders <= set(city.smtp.per_message_id()),
        MAIL_SECONDS,
        "every reminder arrived",
    )
    per_id = city.smtp.per_message_id()
    assert {message_id: per_id[message_id] for message_id in reminders} == dict.fromkeys(
        reminders, 1
    )
    # The batch of the killed worker was taken over after its lease: the message it was
    # sending at its death was tried a second time, and sent once.
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            outcomes = Counter(
                connection.execute(
                    select(OutboxMessage.status, OutboxMessage.attempts).where(
                        OutboxMessage.kind == "reminder"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert {status for status, _ in outcomes} == {"sent"}
    assert outcomes[("sent", 2)] >= 1, outcomes


def test_every_database_connection_dropped_while_citizens_book_loses_and_doubles_none(
    city, office, database_url
):
    _, staff, service_id = office
    staff.create_advisor("Colleague", "colleague@example.org", [service_id])
    # Each time twice (one per advisor), four citizens at once.
    starts = 2 * _slots(staff, service_id)[:12]
    plan: Queue[int] = Queue()
    for n in range(len(starts)):
        plan.put(n)
    answers: list[tuple[int, int, str | None]] = []  # booking, status, code
    made: dict[int, str] = {}
    halfway = threading.Event()

    def citizen() -> None:
        with city.http() as own:
            while True:
                try:
                    n = plan.get_nowait()
                except Empty:
                    return
                while n not in made:
                    answer = own.post(
                        "/api/v1/bookings",
                        json=booking_body(service_id, starts[n], f"p{n}@example.org"),
                        headers={"Idempotency-Key": f"booking-{n}"},
                    )
                    code = answer.json().get("code") if answer.status_code >= 400 else None
                    answers.append((n, answer.status_code, code))
                    if answer.status_code in (200, 201):
                        made[n] = answer.json()["reference"]
                    elif answer.status_code == 503:
                        assert answer.headers["Retry-After"] == "1"
                        time.sleep(0.2)  # Retry-After, shortened: the server is back
                    else:
                        return
                if len(made) >= len(starts) // 3:
                    halfway.set()

    with ThreadPoolExecutor(4) as pool:
        citizens = [pool.submit(citizen) for _ in range(4)]
        assert halfway.wait(60), answers
        dropped = backends_of_database(database_url)
        assert len(dropped) >= 3  # the two instances' and the worker's, at least
        drop_backends(database_url, dropped)
        for done in citizens:
            done.result(timeout=120)

    outcomes = {(status, code) for _, status, code in answers}
    assert outcomes <= {(201, None), (503, "busy")}, city.logs()
    assert len(made) == len(starts)
    assert len(set(made.values())) == len(starts)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            booked = connection.scalar(select(func.count()).select_from(Booking))
    finally:
        engine.dispose()
    assert booked == len(starts)
    per_id = _confirmations(city, len(starts))
    assert sorted(per_id.values()) == [1] * len(starts)
    assert not set(dropped) & set(backends_of_database(database_url))
