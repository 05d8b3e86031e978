"""Pages of the staff's credentials through the app: the forgotten-password mail and its link,
the password change, TOTP enrolment and the login's second step, the roles that need a second
factor, a person's sessions, and the API login with a code."""

from __future__ import annotations

import html
import re

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.db import read_session
from scheduler.models import Role
from tests.conftest import PASSWORD
from tests.web.pages.test_staff_login import field_error, log_in, post

EMAIL = "admin@example.org"
NEW_PASSWORD = "purple elephant juggles 42"


def reset_mails(container) -> list[OutboxMessage]:
    container.outbox.deliver_due()
    with read_session(container.sessions) as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "password_reset"))
        )


def reset_path(mail: OutboxMessage) -> str:
    assert mail.text_body is not None
    word = next(w for w in mail.text_body.split() if "/staff/passwort-neu?token=" in w)
    return word[word.index("/staff/") :]


def secret_on(page: str) -> str:
    match = re.search(r'<code id="totp-secret" class="totp-secret">([A-Z2-7 ]+)</code>', page)
    assert match, "no secret on the page"
    return match[1].replace(" ", "")


def now_code(secret: str, clock) -> str:
    return pyotp.TOTP(secret).at(int(clock().timestamp()))


def test_forgotten_password_same_answer_then_a_single_use_link(client, container, world):
    for email in ("nobody@example.org", EMAIL):
        response = post(client, "/staff/passwort-vergessen", {"email": email})
        assert response.status_code == 303
        assert response.headers["location"] == "/staff/passwort-vergessen?gesendet=1"
    [mail] = reset_mails(container)
    assert mail.recipient == EMAIL
    assert mail.language == "de"
    assert mail.subject == "Neues Passwort für Sprechstunde"
    path = reset_path(mail)
    assert client.get(path).status_code == 200
    token = path.split("token=")[1]
    mismatch = post(
        client,
        "/staff/passwort-neu",
        {"token": token, "password": NEW_PASSWORD, "password_repeat": "other"},
    )
    assert mismatch.status_code == 422
    done = post(
        client,
        "/staff/passwort-neu",
        {"token": token, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD},
    )
    assert done.status_code == 303
    again = client.get(path)
    assert again.status_code == 410
    assert "Dieser Link wurde schon benutzt oder ist abgelaufen." in again.text
    log_in(client, EMAIL, NEW_PASSWORD)


def test_an_expired_link_is_refused(client, container, world, clock):
    post(client, "/staff/passwort-vergessen", {"email": EMAIL})
    path = reset_path(reset_mails(container)[0])
    clock.advance(hours=1)
    assert client.get(path).status_code == 410


def test_password_change_page(client, container, world):
    log_in(client, EMAIL)
    assert client.get("/staff/passwort").status_code == 200
    wrong = post(
        client,
        "/staff/passwort",
        {"current_password": "nope", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert field_error(wrong.text, "current_password") == "Das bisherige Passwort ist falsch."
    ok = post(
        client,
        "/staff/passwort",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD},
    )
    assert ok.headers["location"] == "/staff/passwort?gespeichert=1"
    assert client.get("/staff/einstellungen").status_code == 200  # this session lives on


def enrol(client: TestClient, clock) -> str:
    page = client.get("/staff/zweiter-faktor")
    assert page.status_code == 200
    assert "otpauth://totp/" in html.unescape(page.text)
    assert "<svg" in page.text
    secret = secret_on(page.text)
    wrong = post(client, "/staff/zweiter-faktor", {"code": "000000"})
    assert wrong.status_code == 422
    shown = post(client, "/staff/zweiter-faktor", {"code": now_code(secret, clock)})
    assert shown.status_code == 200
    assert len(re.findall(r"<li><code>[a-z2-9]{5}-[a-z2-9]{5}</code></li>", shown.text)) == 10
    return secret


def test_enrol_then_log_in_with_the_code(client, container, world, clock):
    log_in(client, EMAIL)
    secret = enrol(client, clock)
    assert "Ihr zweiter Faktor ist eingerichtet." in client.get("/staff/zweiter-faktor").text
    post(client, "/staff/logout")
    clock.advance(seconds=30)
    step = post(client, "/staff/login", {"email": EMAIL, "password": PASSWORD})
    assert step.status_code == 303
    assert step.headers["location"].startswith("/staff/login/code")
    assert "staff_session" not in client.cookies
    assert client.get("/staff/login/code").status_code == 200
    wrong = post(client, "/staff/login/code", {"code": "123456", "next": "/staff/admin"})
    assert wrong.status_code == 401
    assert field_error(wrong.text, "code") == "Der Code ist falsch oder wurde schon benutzt."
    ok = post(
        client, "/staff/login/code", {"code": now_code(secret, clock), "next": "/staff/admin"}
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/staff/admin"
    assert client.get("/staff/admin").status_code == 200


def test_a_required_role_is_led_to_enrolment_after_the_password(app, container, world, clock):
    advisor = world.advisor([])
    container.credentials.require_for(world.admin, [Role.ADVISOR])
    client = TestClient(app)
    step = post(client, "/staff/login", {"email": advisor.email, "password": PASSWORD})
    assert step.headers["location"].startswith("/staff/zweiter-faktor")
    page = client.get("/staff/zweiter-faktor")
    secret = secret_on(page.text)
    done = post(client, "/staff/zweiter-faktor", {"code": now_code(secret, clock)})
    assert done.status_code == 200
    assert "staff_session" in client.cookies
    assert client.get("/staff/agenda").status_code == 200


def test_admin_pages_for_roles_and_sessions(client, app, container, world):
    advisor = world.advisor([])
    other = TestClient(app)
    log_in(other, advisor.email)
    log_in(client, EMAIL)
    assert client.get("/staff/admin/zweiter-faktor").status_code == 200
    saved = post(client, "/staff/admin/zweiter-faktor", {"roles": ["admin", "hotline"]})
    assert saved.status_code == 303
    assert container.credentials.required_roles() == {Role.ADMIN, Role.HOTLINE}
    page = client.get(f"/staff/admin/sitzungen/{advisor.id}")
    assert page.status_code == 200
    assert page.text.count('name="sid"') == 1
    ended = post(client, f"/staff/admin/sitzungen/{advisor.id}", {"action": "all"})
    assert ended.status_code == 303
    assert other.get("/staff/agenda", follow_redirects=False).status_code == 303
    assert other.get("/staff/admin/zweiter-faktor", follow_redirects=False).status_code in (
        303,
        403,
    )


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/staff/admin/zweiter-faktor", {Role.ADMIN}),
        ("/staff/admin/sitzungen/1", {Role.ADMIN}),
        ("/staff/passwort", {Role.ADMIN, Role.ADVISOR, Role.HOTLINE}),
        ("/staff/zweiter-faktor", {Role.ADMIN, Role.ADVISOR, Role.HOTLINE}),
    ],
)
def test_roles_per_page(app, world, path, allowed):
    for role in Role:
        client = TestClient(app)
        if role is Role.ADMIN:
            log_in(client, EMAIL)
        else:
            person = world.advisor([], role=role, email=f"{role.value}-{len(path)}@example.org")
            log_in(client, person.email)
        status = client.get(path, follow_redirects=False).status_code
        assert (status == 200) == (role in allowed), (role, status)


def test_api_login_asks_for_the_code(client, container, world, clock):
    secret = container.credentials.start_enrolment(world.admin.id).secret
    container.credentials.confirm_enrolment(world.admin.id, now_code(secret, clock))
    clock.advance(seconds=30)
    body = {"email": EMAIL, "password": PASSWORD}
    missing = client.post("/api/v1/auth/token", json=body)
    assert missing.status_code == 401
    assert missing.json()["code"] == "second_factor_required"
    ok = client.post("/api/v1/auth/token", json={**body, "totp": now_code(secret, clock)})
    assert ok.status_code == 200
    assert ok.json()["access_token"]
