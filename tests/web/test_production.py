"""What production adds to every answer: HSTS, `Secure` cookies, `Cache-Control: no-store` on
answers with personal data, no API documentation unless asked for; and language links that
stay on this site."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Clock, World
from tests.web.pages.test_citizen_flow import TUESDAY, at, make_service, read
from tests.web.pages.test_staff_login import post
from web.app import create_app
from web.settings import Settings

STRONG_KEY = "q3V9kz0tWcX8m1HfYp2LrB7sNdJ4uGaE6yTiK5oZ-Qw_MhSlCvUxRbn8eP1jFgA3"
BASE_URL = "https://testserver"


def production_settings(settings: Settings, **more: Any) -> Settings:
    """The tests' settings, in production: validated like any deployment's."""
    values = settings.model_dump() | {
        "env": "production",
        "secret_key": STRONG_KEY,
        "base_url": BASE_URL,
        "smtp_host": "127.0.0.1",
        **more,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def production_app(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    application = create_app(production_settings(settings), clock=clock)
    yield application
    application.state.container.engine.dispose()


@pytest.fixture
def production(production_app: FastAPI) -> Iterator[TestClient]:
    # Over https, as the proxy in front serves it: `Secure` cookies come back.
    with TestClient(production_app, base_url=BASE_URL) as client:
        yield client


def booked(client: TestClient, world: World) -> str:
    """Book through the API; the booking's magic-link token."""
    service = make_service(world)
    answer = client.post(
        "/api/v1/bookings",
        json={
            "service_id": service.id,
            "start": at(TUESDAY, 9).isoformat(),
            "channel": "video",
            "name": "Erika Mustermann",
            "email": "erika@example.org",
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return str(answer.json()["manage_url"].rsplit("/", 1)[1])


def test_production_answers_ask_for_https_only(production):
    answer = production.get("/healthz")
    assert answer.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


def test_other_environments_send_no_hsts(client):
    assert "strict-transport-security" not in client.get("/healthz").headers


def test_every_cookie_is_secure_in_production(production, world):
    cookies = production.get("/?lang=en").headers.get_list("set-cookie")
    token = booked(production, world)
    cookies += production.get(f"/b/{token}", follow_redirects=False).headers.get_list("set-cookie")
    login = post(production, "/staff/login", {"email": world.admin.email, "password": "x"})
    cookies += login.headers.get_list("set-cookie")

    names = {cookie.split("=", 1)[0] for cookie in cookies}
    assert {"lang", "csrf", "booking_link"} <= names
    assert all("; secure" in cookie.lower() for cookie in cookies), cookies


def test_the_language_cookie_is_not_secure_over_plain_http(client):
    # A development server on http://127.0.0.1 would otherwise never get the cookie back.
    cookies = client.get("/?lang=en").headers.get_list("set-cookie")
    [cookie] = [cookie for cookie in cookies if cookie.startswith("lang=en;")]
    assert "secure" not in cookie.lower()


def test_answers_with_personal_data_are_not_stored(production, world):
    token = booked(production, world)
    production.get(f"/b/{token}")

    for path in ["/termin", "/termin/kalender.ics", "/staff/login", "/api/v1/services"]:
        answer = production.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["cache-control"] == "no-store", path
    refused = production.get("/api/v1/staff/bookings")
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"


def test_static_files_may_be_cached(production):
    answer = production.get("/static/css/site.css")
    assert answer.status_code == 200
    assert "cache-control" not in answer.headers


def test_the_api_documentation_is_off_in_production(production):
    assert production.get("/openapi.json").status_code == 404
    assert production.get("/docs").status_code == 404


def test_production_serves_the_api_documentation_when_asked(settings, clock):
    app = create_app(production_settings(settings, api_docs=True), clock=clock)
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            assert client.get("/openapi.json").json()["info"]["title"] == "Sprechstunde"
            assert client.get("/docs").status_code == 200
    finally:
        app.state.container.engine.dispose()


def test_the_api_documentation_is_on_outside_production(client):
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_language_links_stay_on_this_site(client):
    # A path starting with two slashes, as a link on another site can make a browser ask for.
    url = "http://testserver//evil.example/x"
    page = read(client.get(url))

    assert page.status == 404
    switches = [href for href, _ in page.links if "lang=" in href]
    assert len(switches) == 2
    for href in switches:
        target = urlsplit(urljoin(url, href))
        assert target.netloc == "testserver", href
        assert target.path == "//evil.example/x"  # the same page, in the other language
