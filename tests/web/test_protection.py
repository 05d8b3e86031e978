"""Bot protection: per-address limits on slot search, holds and bookings, and the ALTCHA proof
of work — in-process through the API, with Redis across two app instances, and against a real
server with concurrent clients."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import altcha
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from bench.common import Call, Server, StaffApi, booking_body, fire_together, first_bookable_day
from tests import office_clock
from tests.conftest import MONDAY, REDIS_URL, Clock
from tests.conftest import booking_body as body_for
from web.app import create_app
from web.protection import AltchaRejected, Protection, RateLimited, SlidingWindow, client_key
from web.settings import Settings

TUESDAY = date(2031, 1, 7)  # the first working day after the test clock's Monday (a holiday)
# Cheap proofs of work, so that solving in Python takes milliseconds.
CHEAP_ALTCHA = {"altcha_cost": 5, "altcha_max_number": 200}


class FakeTime:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tight(settings: Settings, **limits: object) -> Settings:
    return settings.model_copy(
        update={
            "slot_searches_per_minute": 3,
            "bookings_per_hour": 3,
            "unverified_bookings_per_hour": 1,
            **CHEAP_ALTCHA,
            **limits,
        }
    )


def a_client_address() -> str:
    """A fresh documentation address (RFC 3849) in a /64 of its own (limits count IPv6 by
    /64): with Redis, counts outlive a test."""
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"


@pytest.fixture
def limited_app(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    application = create_app(tight(settings), clock=clock)
    yield application
    application.state.container.engine.dispose()


@pytest.fixture
def limited(limited_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(limited_app, client=(a_client_address(), 50000)) as client:
        yield client


def solve(client: TestClient) -> str:
    """Fetch a challenge and brute-force it as the widget does; the payload it would send."""
    response = client.get("/api/v1/altcha/challenge")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    challenge = altcha.Challenge.from_dict(response.json())
    solution = altcha.solve_challenge(challenge, timeout=10)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


def search(client: TestClient, service_id: int) -> Any:
    return client.get(
        f"/api/v1/services/{service_id}/slots",
        params={"start": TUESDAY.isoformat(), "end": TUESDAY.isoformat()},
    )


class Bookings:
    """Bookings of distinct slots and e-mail addresses, so that only the limits can refuse."""

    def __init__(self, client: TestClient, world: Any) -> None:
        self.client = client
        self.service = world.service(name=f"Beratung {secrets.token_hex(4)}", min_notice_minutes=0)
        world.advisor([self.service])
        # One search of the budget.
        self.starts = [s["start"] for s in search(client, self.service.id).json()["slots"]]
        self.count = 0

    def book(self, altcha_payload: str | None = None) -> Any:
        start = self.starts[self.count]
        self.count += 1
        body = body_for(self.service, MONDAY, email=f"p{self.count}@example.org")
        body["start"] = start
        headers = {"X-Altcha": altcha_payload} if altcha_payload is not None else {}
        return self.client.post("/api/v1/bookings", json=body, headers=headers)


# -- limits --------------------------------------------------------------------------------


def test_slot_search_beyond_the_limit_answers_429_with_retry_after(limited, world):
    service = world.service()
    world.advisor([service])
    assert [search(limited, service.id).status_code for _ in range(3)] == [200, 200, 200]

    refused = search(limited, service.id)

    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 61


def test_the_429_message_is_translated(limited, world):
    service = world.service()
    for _ in range(3):
        search(limited, service.id)
    refused = limited.get(
        f"/api/v1/services/{service.id}/slots",
        params={"start": TUESDAY.isoformat()},
        headers={"Accept-Language": "de"},
    )
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Zu viele Anfragen")


def test_the_window_slides():
    now = FakeTime()
    window = SlidingWindow(limit=2, window=60, clock=now)
    window.hit("a")
    now.now += 30
    window.hit("a")
    with pytest.raises(RateLimited) as refused:
        window.hit("a")
    assert refused.value.params["retry_after"] == 31  # the first hit leaves in 30 s
    now.now += 30  # the first hit left the window, the second is still in it
    window.hit("a")
    with pytest.raises(RateLimited):
        window.hit("a")


def test_each_address_has_its_own_budget():
    window = SlidingWindow(limit=1, window=60, clock=FakeTime())
    window.hit("198.51.100.1")
    window.hit("198.51.100.2")
    with pytest.raises(RateLimited):
        window.hit("198.51.100.1")


def test_exempt_networks_are_not_limited(settings):
    protection = Protection(
        tight(settings, redis_url=None, rate_limit_exempt=["10.0.0.0/8", "2001:db8:a::/48"])
    )
    for _ in range(10):
        protection.check_search("10.20.30.40")
        protection.check_booking("2001:db8:a::7", None)
    for _ in range(3):
        protection.check_search("11.0.0.1")
    with pytest.raises(RateLimited):
        protection.check_search("11.0.0.1")


def test_bookings_from_many_addresses_of_one_ipv6_network_share_one_budget(settings):
    protection = Protection(tight(settings, redis_url=None, unverified_bookings_per_hour=10))
    network = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    for host in range(1, 4):  # bookings_per_hour is 3
        protection.check_booking(f"{network}:{host:x}::{host:x}", None)
    with pytest.raises(RateLimited):  # a fourth address of the /64 is the same client
        protection.check_booking(f"{network}:ffff:1:2:3", None)
    protection.check_booking(f"2001:db8:{secrets.token_hex(2)}:1::1", None)  # another /64


def test_eight_bookings_from_eight_addresses_of_one_64_hit_the_limit_like_one_address(
    limited_app, world
):
    network = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    clients = [
        TestClient(limited_app, client=(f"{network}:{secrets.token_hex(2)}::{i + 1:x}", 50000))
        for i in range(8)
    ]
    with clients[0] as first:
        bookings = Bookings(first, world)
        answers = []
        for client in clients:
            bookings.client = client
            answers.append(bookings.book().status_code)
    # The stricter budget without a proof of work is 1, for the whole /64.
    assert answers == [201] + [429] * 7


def test_the_limit_key_is_the_ipv6_network_and_the_ipv4_address():
    assert client_key("2001:db8:1:2:aaaa::1", 64) == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2:aaaa::1", 48) == "2001:db8:1::/48"
    assert client_key("198.51.100.7", 64) == "198.51.100.7"
    assert client_key("::ffff:198.51.100.7", 64) == "198.51.100.7"
    assert client_key("testclient", 64) == "testclient"


def test_exemptions_still_apply_to_single_ipv6_addresses(settings):
    protection = Protection(tight(settings, redis_url=None, rate_limit_exempt=["2001:db8:b::7"]))
    for _ in range(10):
        protection.check_booking("2001:db8:b::7", None)
    protection.check_booking("2001:db8:b::8", None)  # same /64, not exempt: its own count
    with pytest.raises(RateLimited):
        protection.check_booking("2001:db8:b::9", None)


def test_the_ipv6_prefix_is_a_setting():
    parsed = Settings(_env_file=None, ipv6_limit_prefix="56")  # type: ignore[call-arg]
    assert parsed.ipv6_limit_prefix == 56
    with pytest.raises(ValidationError, match="ipv6_limit_prefix"):
        Settings(_env_file=None, ipv6_limit_prefix="129")  # type: ignore[call-arg]


def test_the_exemption_list_accepts_only_addresses_and_networks():
    with pytest.raises(ValidationError, match="rate_limit_exempt"):
        Settings(_env_file=None, rate_limit_exempt="10.0.0.0/8, city-gateway")  # type: ignore[call-arg]
    parsed = Settings(_env_file=None, rate_limit_exempt="10.0.0.0/8, ::1")  # type: ignore[call-arg]
    assert parsed.rate_limit_exempt == ["10.0.0.0/8", "::1"]


def test_holds_are_limited_like_bookings(limited, world):
    service = world.service(min_notice_minutes=0)
    world.advisor([service])
    starts = [s["start"] for s in search(limited, service.id).json()["slots"]]

    def hold(start: str) -> Any:
        body = {"service_id": service.id, "start": start, "channel": "video"}
        return limited.post("/api/v1/holds", json=body)

    assert hold(starts[0]).status_code == 201
    refused = hold(starts[1])  # the stricter budget without a proof of work is 1
    assert refused.status_code == 429
    assert "retry-after" in refused.headers
    assert hold_with_proof(limited, service.id, starts[2]).status_code == 201


def hold_with_proof(client: TestClient, service_id: int, start: str) -> Any:
    body = {"service_id": service_id, "start": start, "channel": "video"}
    return client.post("/api/v1/holds", json=body, headers={"X-Altcha": solve(client)})


# -- the policy: a proof earns the normal limit, none a stricter one, a bad one 422 ---------


def test_without_a_proof_the_stricter_limit_applies_but_the_first_booking_passes(limited, world):
    bookings = Bookings(limited, world)

    assert bookings.book().status_code == 201  # no JavaScript: not blocked outright
    refused = bookings.book()

    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0


def test_with_a_proof_the_normal_limit_applies(limited, world):
    bookings = Bookings(limited, world)

    answers = [bookings.book(solve(limited)).status_code for _ in range(3)]
    refused = bookings.book(solve(limited))

    assert answers == [201, 201, 201]
    assert refused.status_code == 429


def test_bookings_without_a_proof_count_against_the_normal_limit_too(limited, world):
    bookings = Bookings(limited, world)
    assert bookings.book().status_code == 201
    assert bookings.book(solve(limited)).status_code == 201
    assert bookings.book(solve(limited)).status_code == 201
    assert bookings.book(solve(limited)).status_code == 429


def test_a_replayed_proof_is_refused(limited, world):
    bookings = Bookings(limited, world)
    payload = solve(limited)
    assert bookings.book(payload).status_code == 201

    replayed = bookings.book(payload)

    assert replayed.status_code == 422
    assert replayed.json()["code"] == "altcha_invalid"
    assert replayed.json()["field"] == "altcha"


def _tampered(payload: str) -> str:
    data = json.loads(base64.b64decode(payload))
    data["challenge"]["parameters"]["keyPrefix"] = "00" * 16
    data["solution"]["derivedKey"] = "00" * 32
    return base64.b64encode(json.dumps(data).encode()).decode()


def _foreign(_: str) -> str:
    """Solved honestly, but for a challenge signed with another secret."""
    challenge = altcha.create_challenge(
        "PBKDF2/SHA-256", 5, counter=3, hmac_secret="not-our-secret", hmac_key_secret="nor-this"
    )
    solution = altcha.solve_challenge(challenge)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


FORGERIES = {
    "not base64": lambda _: "%%%",
    "not json": lambda _: base64.b64encode(b"hello").decode(),
    "json of another shape": lambda _: base64.b64encode(b'[1, {"a": null}]').decode(),
    "the widget's test mode": lambda _: base64.b64encode(
        b'{"challenge": null, "solution": null, "test": true}'
    ).decode(),
    "tampered parameters": _tampered,
    "signed by someone else": _foreign,
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_proof_is_refused(limited, world, forge):
    bookings = Bookings(limited, world)

    refused = bookings.book(forge(solve(limited)))

    assert refused.status_code == 422
    assert refused.json()["code"] == "altcha_invalid"


def test_an_expired_proof_is_refused(settings):
    now = FakeTime()
    protection = Protection(tight(settings, redis_url=None), clock=now)
    challenge = altcha.Challenge.from_dict(protection.altcha.challenge())
    solution = altcha.solve_challenge(challenge)
    assert solution is not None
    now.now += settings.altcha_expire_seconds + 1

    with pytest.raises(AltchaRejected):
        protection.altcha.verify(altcha.Payload(challenge, solution).to_base64())


def test_a_proof_is_accepted_within_its_time(settings):
    now = FakeTime()
    protection = Protection(tight(settings, redis_url=None), clock=now)
    challenge = altcha.Challenge.from_dict(protection.altcha.challenge())
    solution = altcha.solve_challenge(challenge)
    assert solution is not None
    now.now += settings.altcha_expire_seconds - 1
    protection.altcha.verify(altcha.Payload(challenge, solution).to_base64())


def test_an_empty_proof_counts_as_none(limited, world):
    bookings = Bookings(limited, world)
    assert bookings.book("").status_code == 201
    assert bookings.book("").status_code == 429


def test_the_challenge_is_signed_and_expires(limited):
    challenge = limited.get("/api/v1/altcha/challenge").json()
    parameters = challenge["parameters"]
    assert parameters["algorithm"] == "PBKDF2/SHA-256"
    assert parameters["cost"] == CHEAP_ALTCHA["altcha_cost"]
    assert challenge["signature"]
    assert parameters["keySignature"]
    assert parameters["expiresAt"] > 0


# -- Redis: one budget for every process ---------------------------------------------------

# Only where a Redis server is given (the PostgreSQL and Redis run of CI).
if REDIS_URL:

    @pytest.fixture
    def two_instances(settings: Settings, clock: Clock) -> Iterator[list[FastAPI]]:
        """Two apps on one database and one Redis, as two processes of one city would be. Their
        lifespans are not run: each would start a Redis bus, which the limits do not need."""
        shared = tight(settings, redis_url=REDIS_URL, bookings_per_hour=10)
        apps = [create_app(shared, clock=clock) for _ in range(2)]
        yield apps
        for app in apps:
            asyncio.run(app.state.protection.aclose())
            app.state.container.engine.dispose()

    def client_of(app: FastAPI, address: str) -> TestClient:
        return TestClient(app, client=(address, 50000))

    def test_redis_limits_hold_across_two_app_instances(two_instances, world):
        service = world.service()
        address = a_client_address()
        one, two = (client_of(app, address) for app in two_instances)

        answers = [search(c, service.id).status_code for c in (one, two, one)]
        refused = search(two, service.id)

        assert answers == [200, 200, 200]
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) <= 61
        assert (
            search(client_of(two_instances[1], a_client_address()), service.id).status_code == 200
        )

    def test_redis_refuses_a_proof_replayed_on_another_instance(two_instances, world):
        address = a_client_address()
        one, two = (client_of(app, address) for app in two_instances)
        first, second = Bookings(one, world), Bookings(two, world)
        payload = solve(one)

        assert first.book(payload).status_code == 201
        replayed = second.book(payload)

        assert replayed.status_code == 422
        assert replayed.json()["code"] == "altcha_invalid"


# -- a real server, real concurrent clients ------------------------------------------------


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    limits = {
        "SPRECHSTUNDE_SLOT_SEARCHES_PER_MINUTE": "5",
        "SPRECHSTUNDE_BOOKINGS_PER_HOUR": "3",
        "SPRECHSTUNDE_UNVERIFIED_BOOKINGS_PER_HOUR": "2",
    }
    server = office_clock.server(database_url, tmp_path / "server", extra_env=limits, migrate=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def together(base_url: str, calls: list[Call]) -> list[Any]:
    """fire_together in a thread of its own: Playwright's session-wide browser keeps an event
    loop running in this one when the browser tests ran first."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fire_together, base_url, calls).result()


def _from(address: str) -> dict[str, str]:
    # Loopback is a trusted proxy: the server takes the client's address from this header.
    return {"X-Forwarded-For": address}


@pytest.mark.office_clock
def test_concurrent_clients_get_exactly_their_budget(server: Server) -> None:
    import httpx

    with httpx.Client(base_url=server.base_url) as http:
        staff = StaffApi.bootstrap(server, http)
        service = staff.create_service("Wohngeld")
        staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
    first = first_bookable_day(today=office_clock.office_today())
    path = f"/api/v1/services/{service['id']}/slots?start={first}&end={first + timedelta(days=6)}"
    addresses = ["198.51.100.7", "198.51.100.8", "2001:db8::9"]

    answers = together(
        server.base_url, [Call("GET", path, headers=_from(a)) for a in addresses for _ in range(8)]
    )

    for i, address in enumerate(addresses):
        mine = answers[i * 8 : (i + 1) * 8]
        assert sorted(r.status_code for r in mine) == [200] * 5 + [429] * 3, address
        assert all(int(r.headers["retry-after"]) > 0 for r in mine if r.status_code == 429)
    # Loopback itself is exempt (bench/common.py), as the city's integrations would be.
    unlimited = together(server.base_url, [Call("GET", path) for _ in range(8)])
    assert {r.status_code for r in unlimited} == {200}


@pytest.mark.office_clock
def test_concurrent_bookings_without_a_proof_get_the_stricter_budget(server: Server) -> None:
    import httpx

    with httpx.Client(base_url=server.base_url) as http:
        staff = StaffApi.bootstrap(server, http)
        service = staff.create_service("Grundsicherung")
        staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
        first = first_bookable_day(today=office_clock.office_today())
        starts = staff.slots(service["id"], first, first + timedelta(days=13))

    calls = [
        Call(
            "POST",
            "/api/v1/bookings",
            booking_body(service["id"], starts[i], f"p{i}@example.org"),
            headers=_from("203.0.113.50"),
        )
        for i in range(6)
    ]
    answers = together(server.base_url, calls)

    assert sorted(r.status_code for r in answers) == [201, 201, 429, 429, 429, 429]
