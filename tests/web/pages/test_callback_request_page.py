"""The callback request's own page (`/r/{token}`, the link of the confirmation mail): opening
it changes nothing, withdrawing needs the CSRF token, and a request finished meanwhile says
what became of it instead."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from scheduler.callbacks_models import CallbackStatus
from scheduler.models import Role
from tests.scheduler.test_callbacks import ask, staff
from tests.web.pages.test_staff_login import csrf_token


@pytest.fixture
def service(world):
    return world.service(channels=["video", "phone"])


@pytest.fixture
def request_link(container, service) -> tuple[str, str]:
    """The token of a fresh request's link, and its reference."""
    callback = container.callbacks.request(ask(service))
    return container.callbacks.withdraw_token(callback), callback.reference


def _status(container, token: str) -> str:
    return container.callbacks.for_token(token).status


def test_the_link_shows_the_request_and_changes_nothing(client, container, request_link):
    token, reference = request_link
    page = client.get(f"/r/{token}")
    assert page.status_code == 200
    assert "<h1>Ihre Bitte um Rückruf</h1>" in page.text
    assert reference in page.text
    assert "0391 123456" in page.text
    assert "07.01.2031, 09:00–12:00" in page.text
    assert f'action="/r/{token}/zuruecknehmen"' in page.text
    assert _status(container, token) == CallbackStatus.OPEN


def test_withdrawing_takes_the_request_out_of_the_queue(client, container, request_link):
    token, _ = request_link
    client.get(f"/r/{token}")
    response = client.post(
        f"/r/{token}/zuruecknehmen",
        data={"csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/r/{token}"
    assert _status(container, token) == CallbackStatus.WITHDRAWN
    page = client.get(f"/r/{token}").text
    assert "Sie haben die Bitte zurückgenommen. Wir rufen Sie nicht an." in page
    assert "zuruecknehmen" not in page


def test_without_the_csrf_token_nothing_is_withdrawn(client, container, request_link):
    token, _ = request_link
    response = client.post(f"/r/{token}/zuruecknehmen", follow_redirects=False)
    assert response.status_code == 403
    assert _status(container, token) == CallbackStatus.OPEN


def test_a_request_settled_meanwhile_cannot_be_withdrawn(client, container, world, request_link):
    token, _ = request_link
    callback = container.callbacks.for_token(token)
    hotline = staff(world, Role.HOTLINE)
    container.callbacks.claim(hotline, callback.id)
    container.callbacks.settle(hotline, callback.id)
    client.get(f"/r/{token}")
    response = client.post(f"/r/{token}/zuruecknehmen", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 409
    assert "Die Bitte kann nicht mehr zurückgenommen werden." in response.text
    assert "Wir haben telefoniert: Ihr Anliegen ist erledigt." in response.text


@pytest.mark.parametrize("token", ["x", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.forged"])
def test_a_forged_link_is_refused(client: TestClient, token: str):
    response = client.get(f"/r/{token}")
    assert response.status_code in (401, 404)
    assert re.search(r"<h1>[^<]+</h1>", response.text)
