"""A staff member's own settings: the day's agenda by e-mail, switched on and off by each
staff member for themselves (every role), with the CSRF token like every staff form."""

from __future__ import annotations

import pytest

from scheduler.accounts import StaffIdentity
from scheduler.models import Role
from tests.web.pages.test_staff_login import post, staff_client

CHECKBOX = 'id="agenda-mail" name="agenda-mail"'


@pytest.mark.parametrize("role", [Role.ADVISOR, Role.HOTLINE, Role.ADMIN])
def test_each_role_switches_its_own_agenda_mail_on_and_off(app, container, world, role):
    staff = world.advisor([world.service()], email="anna@example.org", role=role)
    me = StaffIdentity.of(staff)
    client = staff_client(app, "anna@example.org")

    page = client.get("/staff/einstellungen").text
    assert f'{CHECKBOX} aria-describedby="agenda-mail-hint">' in page
    assert "um 07:00 Uhr, an anna@example.org" in page
    assert 'href="/staff/einstellungen" aria-current="page"' in page

    response = post(client, "/staff/einstellungen", {"agenda-mail": "on"})
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/einstellungen?gespeichert=1"
    assert container.accounts.agenda_mail(me) is True
    saved = client.get("/staff/einstellungen?gespeichert=1").text
    assert "Ihre Einstellungen sind gespeichert." in saved
    assert f'{CHECKBOX} aria-describedby="agenda-mail-hint" checked>' in saved

    post(client, "/staff/einstellungen", {})  # an unticked box is not sent at all
    assert container.accounts.agenda_mail(me) is False
    # Nobody else's setting changed.
    assert container.accounts.agenda_mail(world.admin) is False


def test_without_the_csrf_token_nothing_changes(app, container, world):
    staff = world.advisor([world.service()], email="anna@example.org")
    client = staff_client(app, "anna@example.org")
    response = client.post(
        "/staff/einstellungen", data={"agenda-mail": "on"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert container.accounts.agenda_mail(StaffIdentity.of(staff)) is False


def test_without_a_login_the_page_asks_for_one(client):
    response = client.get("/staff/einstellungen", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login")
