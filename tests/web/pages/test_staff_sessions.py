"""Staff sessions end on the server (logout, an admin's "end sessions", deactivation), the CSRF
token is renewed at login and bound to the session, forms read ids one way, `next=` stays on
/staff, and magic links live as long as the appointment needs them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.web.api.test_api_public import TUESDAY, bearer, booked, manage_token, slot_starts
from tests.web.pages.test_staff_login import csrf_token, log_in, post, staff_client


def test_a_session_cookie_is_worthless_after_logout(app, world):
    client = staff_client(app, "admin@example.org")
    stolen = client.cookies["staff_session"]

    assert post(client, "/staff/logout").status_code == 303

    with TestClient(app) as thief:
        thief.cookies.set("staff_session", stolen)
        page = thief.get("/staff/admin", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/staff/login")
        assert thief.get("/api/v1/me", headers=bearer(stolen)).status_code == 401


def test_api_logout_ends_that_token_only(client, world):
    first, second = world.login(client), world.login(client)

    assert client.post("/api/v1/auth/logout", headers=first).status_code == 204

    assert client.get("/api/v1/me", headers=first).status_code == 401
    assert client.get("/api/v1/me", headers=second).status_code == 200


def test_an_admin_ends_every_session_of_an_account_from_the_page(app, world):
    advisor = world.advisor([world.service()])
    desk, phone = staff_client(app, advisor.email), staff_client(app, advisor.email)
    admin = staff_client(app, "admin@example.org")

    ended = post(admin, f"/staff/admin/mitarbeitende/{advisor.id}/sitzungen-beenden")

    assert ended.status_code == 303
    for device in (desk, phone):
        assert device.get("/staff/agenda", follow_redirects=False).status_code == 303
    assert admin.get("/staff/admin").status_code == 200  # the admin's own session lives on
    log_in(desk, advisor.email)  # the owner can simply log in again
    assert desk.get("/staff/agenda").status_code == 200


def test_deactivating_an_account_ends_its_sessions_at_once(app, client, world):
    advisor = world.advisor([world.service()])
    desk = staff_client(app, advisor.email)
    token = world.login(client, advisor.email)
    admin = staff_client(app, "admin@example.org")

    deactivate = f"/staff/admin/mitarbeitende/{advisor.id}/deaktivieren"
    assert post(admin, deactivate).status_code == 200  # first what happens to the appointments
    confirmed = post(admin, deactivate, {"bestaetigt": "1", "betroffen": ""})
    assert confirmed.status_code == 303

    assert desk.get("/staff/agenda", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me", headers=token).status_code == 401
    again = client.post("/api/v1/auth/token", json={"email": advisor.email, "password": PASSWORD})
    assert again.status_code == 401


def test_the_csrf_token_is_renewed_at_login_and_the_old_one_no_longer_works(app, world):
    client = TestClient(app)
    before = csrf_token(client)

    log_in(client, "admin@example.org")

    after = client.cookies["csrf"]
    assert after != before
    stale = client.post("/staff/logout", data={"csrf_token": before}, follow_redirects=False)
    assert stale.status_code == 403


def test_a_csrf_token_of_another_session_is_refused(app, world):
    mine, theirs = staff_client(app, "admin@example.org"), staff_client(app, "admin@example.org")
    # The attacker's own valid pair of cookie and field, planted next to the victim's session.
    mine.cookies.set("csrf", theirs.cookies["csrf"])

    response = mine.post(
        "/staff/logout", data={"csrf_token": theirs.cookies["csrf"]}, follow_redirects=False
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/staff/zeiten", "berater"),
        ("/staff/abwesenheiten", "berater"),
        ("/staff/admin/anliegen", "service-team_id"),
        ("/staff/admin/anliegen", "service-advisor_ids"),
        ("/staff/admin/mitarbeitende", "advisor-team_id"),
    ],
)
@pytest.mark.parametrize("bad", ["²", "٣", "1e3", "-1", "9" * 30])
def test_ids_in_forms_are_ascii_digits_or_a_clear_error(app, world, path, field, bad):
    admin = staff_client(app, "admin@example.org")

    response = post(admin, path, {field: bad})

    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("bad", ["²", "٣"])
def test_removing_an_absence_by_a_non_ascii_id_is_a_clear_error(app, world, bad):
    admin = staff_client(app, "admin@example.org")

    response = post(admin, f"/staff/abwesenheiten/{bad}/entfernen")

    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "next_path",
    ["/staff/..//evil.example", "/staff/%2e%2e//evil.example", "/staff//evil.example"],
)
def test_login_never_leads_off_the_staff_pages(client, world, next_path):
    response = post(
        client,
        "/staff/login",
        {"email": "admin@example.org", "password": PASSWORD, "next": next_path},
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/staff"


def test_the_links_of_a_booking_300_days_ahead_work_until_after_the_appointment(
    client, world, clock
):
    service = world.service(horizon_days=366)
    world.advisor([service])
    day = TUESDAY + timedelta(days=300)
    start = slot_starts(client, service.id, day, day + timedelta(days=6))[0]
    booking = booked(client, {**_body(service.id, start)})
    token = manage_token(booking)

    clock.advance(days=299)  # the day before the appointment: 119 days after 180 would end
    assert client.get("/api/v1/booking", headers=bearer(token)).status_code == 200

    clock.advance(days=60)  # long after the appointment, and after its grace: the link is dead
    assert client.get("/api/v1/booking", headers=bearer(token)).status_code == 401


def _body(service_id: int, start: str) -> dict[str, object]:
    return {
        "service_id": service_id,
        "start": start,
        "channel": "video",
        "name": "Erika Mustermann",
        "email": "erika@example.org",
    }
