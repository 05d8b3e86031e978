"""Who may start a connection test (issue 12): a visitor with a booking link, a staff member,
or a browser with a solved ALTCHA proof of work, each proof accepted once; anyone else gets
403 `proof_required`. The page /verbindungstest carries the widget exactly when it is needed.

Each started test is a real echo peer (aiortc) answering a real offer; it is ended again, since
a client runs one test at a time.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Iterator

import altcha
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import World
from tests.rooms.test_echo import candidate_addresses, offer_sdp
from tests.web.api.test_devmail import book
from tests.web.pages.test_staff_login import log_in
from tests.web.test_protection import CHEAP_ALTCHA, solve
from web.app import create_app

pytestmark = pytest.mark.usefixtures("loopback_ice")

URL = "/api/v1/connection-test"
PROOF_REQUIRED_EN = (
    "The connection test needs the link from your appointment e-mail or the automatic check "
    "against bots. Please reload the page and try again."
)


@pytest.fixture
def offer() -> str:
    """A complete WebRTC offer with audio and video, as a browser sends it (with `loopback_ice`,
    its only candidate is on 127.0.0.1: the echo peer's checks stay on loopback)."""
    sdp = asyncio.run(offer_sdp())
    assert candidate_addresses(sdp) == {"127.0.0.1"}
    return sdp


@pytest.fixture
def access_app(settings, clock) -> Iterator[FastAPI]:
    # With Redis the hourly counts outlive a test: a budget that none of these tests reaches.
    update = {**CHEAP_ALTCHA, "connection_tests_per_hour": 1_000_000}
    application = create_app(settings.model_copy(update=update), clock=clock)
    yield application
    application.state.container.engine.dispose()


@pytest.fixture
def visitor(access_app: FastAPI) -> Iterator[TestClient]:
    """A browser of its own address (RFC 3849), so that no other test's session is in its way."""
    address = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"
    with TestClient(access_app, client=(address, 50000)) as client:
        yield client


def start(client: TestClient, sdp: str, **headers: str) -> Response:
    return client.post(URL, json={"type": "offer", "sdp": sdp}, headers=headers)


def started(client: TestClient, response: Response) -> None:
    """Assert that the test was started, and end it again."""
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "answer"
    assert client.delete(f"{URL}/{response.json()['session_id']}").status_code == 204


def test_without_a_link_login_or_proof_the_answer_is_403_proof_required(visitor, offer, access_app):
    english = start(visitor, offer, **{"Accept-Language": "en"})
    german = start(visitor, offer)

    assert english.status_code == 403, english.text
    assert english.json() == {"code": "proof_required", "detail": PROOF_REQUIRED_EN}
    assert german.status_code == 403
    assert german.json()["detail"].startswith("Der Verbindungstest braucht den Link")
    assert access_app.state.echo.active == 0


def _signed_by_someone_else() -> str:
    challenge = altcha.create_challenge(
        "PBKDF2/SHA-256", 5, counter=3, hmac_secret="not-our-secret", hmac_key_secret="nor-this"
    )
    solution = altcha.solve_challenge(challenge)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


FORGERIES = {
    "not base64": lambda: "%%%",
    "the widget's test mode": lambda: base64.b64encode(
        b'{"challenge": null, "solution": null, "test": true}'
    ).decode(),
    "signed by someone else": _signed_by_someone_else,
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_proof_is_refused(visitor, offer, access_app, forge):
    refused = start(visitor, offer, **{"X-Altcha": forge()})

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "altcha_invalid"
    assert access_app.state.echo.active == 0


def test_a_solved_proof_starts_one_test_and_is_refused_the_second_time(visitor, offer):
    proof = solve(visitor)

    started(visitor, start(visitor, offer, **{"X-Altcha": proof}))
    again = start(visitor, offer, **{"X-Altcha": proof})

    assert again.status_code == 422, again.text
    assert again.json()["code"] == "altcha_invalid"


def test_a_booking_link_in_the_cookie_starts_a_test(visitor, offer, world: World):
    booking = book(visitor, world)
    # Opening the manage link moves its token into the link cookie, as in a browser.
    visitor.get(booking["manage_url"].removeprefix("http://testserver"), follow_redirects=False)
    assert "booking_link" in visitor.cookies

    started(visitor, start(visitor, offer))


def test_a_join_link_in_the_cookie_starts_a_test(visitor, offer, world: World):
    booking = book(visitor, world)
    visitor.get(booking["join_url"].removeprefix("http://testserver"), follow_redirects=False)

    started(visitor, start(visitor, offer))


def test_an_unknown_or_cancelled_booking_link_is_not_enough(visitor, offer, world: World):
    visitor.cookies.set("booking_link", "not-a-token")
    assert start(visitor, offer).status_code == 403

    booking = book(visitor, world)
    token = booking["manage_url"].rsplit("/", 1)[1]
    visitor.get(f"/b/{token}", follow_redirects=False)
    cancelled = visitor.post("/api/v1/booking/cancel", headers={"Authorization": f"Bearer {token}"})
    assert cancelled.status_code == 200, cancelled.text

    refused = start(visitor, offer)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "proof_required"


def test_a_staff_bearer_token_starts_a_test(visitor, offer, world: World):
    started(visitor, start(visitor, offer, **world.login(visitor)))


def test_a_forged_bearer_token_is_not_enough(visitor, offer, world: World):
    refused = start(visitor, offer, Authorization="Bearer not-a-token")

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "proof_required"


def test_a_staff_session_cookie_starts_a_test(visitor, offer, world: World):
    log_in(visitor, "admin@example.org")

    started(visitor, start(visitor, offer))


def test_the_openapi_documents_the_403(visitor):
    operation = visitor.get("/openapi.json").json()["paths"][URL]["post"]

    assert "proof_required" in operation["responses"]["403"]["description"]
    assert any(p["name"] == "X-Altcha" for p in operation["parameters"])


# -- the page ------------------------------------------------------------------------------


def test_the_page_brings_the_widget_solving_on_load_without_a_booking_link(visitor):
    html = visitor.get("/verbindungstest").text

    assert "<altcha-widget" in html
    assert 'auto="onload"' in html


def test_the_page_has_no_widget_for_a_visitor_with_a_booking_link(visitor, world: World):
    booking = book(visitor, world)
    visitor.get(booking["join_url"].removeprefix("http://testserver"), follow_redirects=False)

    html = visitor.get("/verbindungstest").text

    assert "<altcha-widget" not in html
    assert "/static/js/connection-test.js" in html
