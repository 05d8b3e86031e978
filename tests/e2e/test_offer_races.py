"""Waiting-list offers against a running server, with real concurrent clients: cancellations
fired at once for slots that several waiting people match, a second offer loop in this process
racing the server's, citizens trying to book the offered slots, and acceptances racing the
expiry of their offers. Every offered slot reaches exactly one person, and an offer ends
either accepted or expired, never both."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bench.common import Call, Server, StaffApi, booking_body, fire_together
from scheduler.db import read_session
from scheduler.models import Booking, BookingStatus
from scheduler.waitlist_models import WaitlistOffer
from tests.office_clock import office_now, office_today
from web.container import Container
from web.settings import Settings

PEOPLE = 10
CANCELLED = 6
# Two hours a weekday, a week ahead: few enough slots to book them all.
HOURS = [{"weekday": day, "start": "09:00", "end": "11:00"} for day in range(5)]


@pytest.fixture
def twin(server: Server, tmp_path: Path) -> Iterator[Container]:
    """The server's parts, built in this process on its database and secret: a second
    worker whose offer loop races the server's, and the issuer of the offers' links."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url=server.database_url,
        base_url=server.base_url,
        secret_key=server.secret_key,
        embedded_worker=False,
    )
    container = Container.build(settings, clock=office_now)
    yield container
    container.engine.dispose()


def _setup(http: httpx.Client, staff: StaffApi) -> tuple[int, dict[str, str]]:
    """A service whose every slot is booked; the manage token of each booking by its start."""
    service = staff.create_service("Wohngeld", horizon_days=6)
    staff.create_advisor("Advisor", "advisor@example.org", [service["id"]], hours=HOURS)
    today = office_today()
    starts = staff.slots(service["id"], today, today + timedelta(days=6))
    assert len(starts) >= CANCELLED, starts
    tokens = {}
    for n, start in enumerate(starts):
        answer = http.post(
            "/api/v1/bookings", json=booking_body(service["id"], start, f"b{n}@x.org")
        )
        assert answer.status_code == 201, answer.text
        tokens[start] = answer.json()["manage_url"].rsplit("/", 1)[1]
    return service["id"], tokens


def _join_everybody(server: Server, service_id: int) -> None:
    answers = fire_together(
        server.base_url,
        [
            Call(
                "POST",
                "/api/v1/waitlist",
                {
                    "service_id": service_id,
                    "name": f"Wartende {n}",
                    "email": f"w{n}@example.org",
                    "channel": "video",
                },
            )
            for n in range(PEOPLE)
        ],
    )
    assert Counter(a.status_code for a in answers) == {201: PEOPLE}
    assert sorted(a.json()["position"] for a in answers) == list(range(1, PEOPLE + 1))


def _open_offers(twin: Container) -> list[WaitlistOffer]:
    with read_session(twin.sessions) as session:
        return list(session.scalars(select(WaitlistOffer).where(WaitlistOffer.status == "open")))


def _wait_for_offers(twin: Container, count: int, seconds: float = 30) -> list[WaitlistOffer]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = _open_offers(twin)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    return _open_offers(twin)


def _race_loops(twin: Container, rounds: int = 3) -> threading.Thread:
    def loops() -> None:
        for _ in range(rounds):
            twin.waitlist.run()

    thread = threading.Thread(target=loops)
    thread.start()
    return thread


def _cancel_some(server: Server, tokens: dict[str, str]) -> list[str]:
    chosen = sorted(tokens)[-CANCELLED:]  # days ahead: far from the minimum notice
    answers = fire_together(
        server.base_url,
        [
            Call("POST", "/api/v1/booking/cancel", headers={"Authorization": f"Bearer {tokens[s]}"})
            for s in chosen
        ],
    )
    assert Counter(a.status_code for a in answers) == {200: CANCELLED}
    return chosen


def _offer_token(twin: Container, offer: WaitlistOffer) -> str:
    with read_session(twin.sessions) as session:
        return twin.waitlist.offer_token(twin.waitlist._offer_info(session, offer))


@pytest.mark.office_clock
def test_concurrent_cancellations_reach_exactly_one_person_each(
    server: Server, http: httpx.Client, staff: StaffApi, twin: Container
) -> None:
    service_id, tokens = _setup(http, staff)
    _join_everybody(server, service_id)

    racer = _race_loops(twin)
    freed = _cancel_some(server, tokens)
    racer.join(60)
    offers = _wait_for_offers(twin, CANCELLED)
    time.sleep(1)  # the server's loop may still be running: nothing more may appear
    offers = _open_offers(twin)

    starts = sorted(o.start_at for o in offers)
    assert starts == sorted(datetime.fromisoformat(s) for s in freed)
    assert len({o.entry_id for o in offers}) == CANCELLED  # one slot each, one offer each
    with read_session(twin.sessions) as session:
        held = session.scalars(
            select(Booking).where(Booking.id.in_([o.booking_id for o in offers]))
        ).all()
    assert {b.status for b in held} == {BookingStatus.HELD}
    assert sorted(b.start_at for b in held) == starts

    # A citizen neither sees nor books an offered slot.
    today = office_today()
    assert not set(freed) & set(staff.slots(service_id, today, today + timedelta(days=6)))
    attempts = fire_together(
        server.base_url,
        [
            Call("POST", "/api/v1/bookings", booking_body(service_id, s, f"c{n}@x.org"))
            for n, s in enumerate(freed)
        ],
    )
    assert Counter(a.status_code for a in attempts) == {409: CANCELLED}


@pytest.mark.office_clock
def test_acceptances_racing_the_expiry_end_one_way_each(
    server: Server, http: httpx.Client, staff: StaffApi, twin: Container
) -> None:
    service_id, tokens = _setup(http, staff)
    _join_everybody(server, service_id)
    _cancel_some(server, tokens)
    offers = _wait_for_offers(twin, CANCELLED)
    assert len(offers) == CANCELLED
    offer_tokens = {o.id: _offer_token(twin, o) for o in offers}
    # A second worker whose clock has passed every offer's expiry, while the server's has not.
    latest = max(o.expires_at for o in offers)
    expirer = Container.build(twin.settings, clock=lambda: latest)
    calls = [
        Call("POST", "/api/v1/offer/accept", headers={"Authorization": f"Bearer {t}"})
        for t in offer_tokens.values()
        for _ in range(2)  # and each offer accepted twice at once (a double click)
    ]
    expiry = threading.Thread(target=expirer.waitlist.expire_due)
    expiry.start()
    answers = fire_together(server.base_url, calls)
    expiry.join(60)
    expirer.engine.dispose()

    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    with read_session(twin.sessions) as session:
        final = {
            o.id: o
            for o in session.scalars(
                select(WaitlistOffer).where(WaitlistOffer.id.in_(offer_tokens))
            )
        }
        confirmed = Counter(
            session.scalars(
                select(Booking.start_at).where(
                    Booking.service_id == service_id, Booking.status == BookingStatus.CONFIRMED
                )
            )
        )
    for offer_id, token in offer_tokens.items():
        mine = [
            a
            for a, c in zip(answers, calls, strict=True)
            if c.headers["Authorization"] == f"Bearer {token}"
        ]
        offer = final[offer_id]
        if offer.status == "accepted":
            assert [a.status_code for a in mine] == [201, 201]
            assert len({a.json()["reference"] for a in mine}) == 1
        else:
            assert offer.status == "expired"
            assert [a.status_code for a in mine] == [409, 409]
        # Booked exactly once if accepted, and not at all otherwise.
        assert confirmed[offer.start_at] == (1 if offer.status == "accepted" else 0)
