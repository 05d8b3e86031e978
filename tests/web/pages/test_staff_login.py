"""Staff login and logout pages: cookies, errors, throttling, CSRF, no open redirect, role homes.

The helpers at the top are shared by the other `test_staff_*` page tests."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient

from scheduler.models import Role
from tests.conftest import PASSWORD


def csrf_token(client: TestClient) -> str:
    """The CSRF token of the client's session, set by the first page it opens."""
    if "csrf" not in client.cookies:
        client.get("/staff/login")
    return client.cookies["csrf"]


def post(client: TestClient, path: str, data: dict[str, object] | None = None) -> httpx.Response:
    """A form submission as a browser makes it, with the CSRF token; redirects not followed."""
    return client.post(
        path, data={"csrf_token": csrf_token(client), **(data or {})}, follow_redirects=False
    )


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    response = post(client, "/staff/login", {"email": email, "password": password})
    assert response.status_code == 303, response.text


def staff_client(app, email: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(app)
    log_in(client, email, password)
    return client


def field_error(html: str, field_id: str) -> str:
    """The text of the error message shown at a field."""
    match = re.search(rf'<span class="field-error" id="{re.escape(field_id)}-error">([^<]*)<', html)
    assert match, f"no error at {field_id}"
    return match[1]


def test_login_sets_an_httponly_lax_session_cookie_and_goes_to_the_role_home(client, world):
    response = post(client, "/staff/login", {"email": "admin@example.org", "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["location"] == "/staff"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("staff_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over http in the tests
    home = client.get("/staff", follow_redirects=False)
    assert home.headers["location"] == "/staff/admin"


def test_the_session_cookie_is_secure_when_served_over_https(settings, clock, world):
    from web.app import create_app

    settings.base_url = "https://sprechstunde.example"
    app = create_app(settings, clock=clock)
    client = TestClient(app, base_url="https://testserver")
    response = post(client, "/staff/login", {"email": "admin@example.org", "password": PASSWORD})
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("staff_session=")
    )
    assert "Secure" in cookie
    app.state.container.engine.dispose()


def test_a_wrong_password_shows_the_form_again_with_an_error_summary(client, world):
    response = post(client, "/staff/login", {"email": "admin@example.org", "password": "nope"})
    assert response.status_code == 401
    assert 'class="error-summary"' in response.text
    assert '<a href="#email">' in response.text
    assert 'aria-invalid="true"' in response.text
    assert field_error(response.text, "email") == ("E-Mail-Adresse oder Passwort ist falsch.")
    assert "staff_session" not in client.cookies
    assert 'value="admin@example.org"' in response.text


def test_empty_fields_are_named_in_the_error_summary(client, world):
    response = post(client, "/staff/login", {"email": "", "password": ""})
    assert response.status_code == 422
    assert '<a href="#email">' in response.text
    assert '<a href="#password">' in response.text


def test_after_five_failures_the_login_is_throttled_with_the_wait(client, world):
    for _ in range(5):
        wrong = post(client, "/staff/login", {"email": "admin@example.org", "password": "x"})
        assert wrong.status_code == 401
    response = post(client, "/staff/login", {"email": "admin@example.org", "password": PASSWORD})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "900"
    assert "15 Minuten" in field_error(response.text, "email")
    assert "staff_session" not in client.cookies


@pytest.mark.parametrize(
    "path",
    [
        "/staff/login",
        "/staff/logout",
        "/staff/termine/ABCD-EFGH/ergebnis",
        "/staff/zeiten",
        "/staff/abwesenheiten",
        "/staff/abwesenheiten/1/entfernen",
        "/staff/hotline/buchen",
        "/staff/hotline/raum",
        "/staff/admin/anliegen",
        "/staff/admin/teams",
        "/staff/admin/mitarbeitende",
    ],
)
def test_every_form_needs_the_csrf_token(app, world, path):
    client = staff_client(app, "admin@example.org")
    missing = client.post(path, data={"email": "admin@example.org"}, follow_redirects=False)
    wrong = client.post(path, data={"csrf_token": "x" * 43}, follow_redirects=False)
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "Formular ist abgelaufen" in response.text


@pytest.mark.parametrize(
    ("next_path", "target"),
    [
        ("/staff/woche?ab=2031-01-13", "/staff/woche?ab=2031-01-13"),
        ("//evil.example/staff", "/staff"),
        ("https://evil.example/staff", "/staff"),
        ("/\\evil.example", "/staff"),
        ("/staff\\@evil.example", "/staff"),
        ("/citizen", "/staff"),
        ("/staff/login", "/staff"),
    ],
)
def test_after_login_only_local_staff_paths_are_followed(client, world, next_path, target):
    response = post(
        client,
        "/staff/login",
        {"email": "admin@example.org", "password": PASSWORD, "next": next_path},
    )
    assert response.headers["location"] == target


def test_a_staff_page_without_login_sends_to_the_login_with_the_way_back(client):
    response = client.get("/staff/woche?ab=2031-01-13", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/login?next=%2Fstaff%2Fwoche"
    form = client.get(response.headers["location"])
    assert 'name="next" value="/staff/woche"' in form.text


def test_logout_clears_the_session_and_says_so(app, world):
    client = staff_client(app, "admin@example.org")
    response = post(client, "/staff/logout")
    assert response.status_code == 303
    assert 'staff_session=""' in response.headers["set-cookie"]
    page = client.get(response.headers["location"])
    assert "Sie wurden abgemeldet." in page.text
    assert client.get("/staff/admin", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("role", "home"),
    [
        (Role.ADVISOR, "/staff/agenda"),
        (Role.HOTLINE, "/staff/hotline"),
        (Role.ADMIN, "/staff/admin"),
    ],
)
def test_each_role_has_its_home(app, world, role, home):
    email = f"{role.value}-home@example.org"
    world.advisor([], email=email, role=role)
    client = staff_client(app, email)
    assert client.get("/staff", follow_redirects=False).headers["location"] == home
    assert client.get(home).status_code == 200


def test_the_navigation_shows_only_the_sections_of_the_role(app, world):
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    page = staff_client(app, "hotline@example.org").get("/staff/hotline").text
    assert 'href="/staff/hotline" aria-current="page"' in page
    assert 'href="/staff/admin"' not in page
    assert 'href="/staff/zeiten"' not in page
    assert 'action="/staff/logout"' in page


def test_the_login_page_in_english(client):
    page = client.get("/staff/login?lang=en")
    assert '<html lang="en"' in page.text
    assert "<h1>Staff login</h1>" in page.text
    german = client.get("/staff/login?lang=de")
    assert "<h1>Anmeldung für Mitarbeitende</h1>" in german.text
