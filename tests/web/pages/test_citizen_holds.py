"""Holds on the details page at a shared address (a shelter, a library kiosk): once the
address has used up its holds for the hour ("Keep this time for me"), the page says so in an
alert and explains what to do, instead of silently keeping nothing."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Clock
from tests.web.pages.test_citizen_flow import (
    bookings,
    hold_slot,
    make_service,
    open_page,
    submit_details,
)
from web.app import create_app
from web.container import Container
from web.settings import Settings

HOLDS_PER_HOUR = 4  # without a proof of work: a page without JavaScript sends none


@pytest.fixture
def shared_app(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    limited = settings.model_copy(update={"unverified_bookings_per_hour": HOLDS_PER_HOUR})
    application = create_app(limited, clock=clock)
    yield application
    application.state.container.engine.dispose()


@pytest.fixture
def kiosk(shared_app: FastAPI) -> Iterator[TestClient]:
    # An address of its own (with Redis, counts outlive a test), in a /64 of its own.
    address = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"
    with TestClient(shared_app, client=(address, 50000)) as client:
        yield client


def alert(html: str) -> str:
    found = re.search(r'<div class="notice hold-refused" role="alert">(.*?)</div>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split()) if found else ""


def details_pages(client: TestClient, service_id: int, count: int) -> list[str]:
    time_page = open_page(client, f"/buchen/{service_id}/zeit", kanal="video")
    # Slots far apart, so that one hold does not overlap the next.
    slots = time_page.hrefs(f"/buchen/{service_id}/angaben")[::8][:count]
    assert len(slots) == count
    pages = []
    for slot in slots:
        # Without the hold cookie of the page before, which would release that hold, as for
        # one person who changes the time: here it is the next person at the kiosk.
        client.cookies.clear()
        pages.append(hold_slot(client, open_page(client, slot), service_id))
    return pages


def test_the_fifth_details_page_in_an_hour_says_the_time_is_not_kept(kiosk, world, shared_app):
    service = make_service(world)
    pages = details_pages(kiosk, service.id, HOLDS_PER_HOUR + 1)
    container: Container = shared_app.state.container

    assert all(p.inputs.get("hold") for p in pages[:HOLDS_PER_HOUR])
    assert not any(alert(p.html) for p in pages[:HOLDS_PER_HOUR])
    last = pages[-1]
    assert last.status == 200
    assert "hold" not in last.inputs
    assert "Wir konnten diese Uhrzeit nicht für Sie freihalten" in alert(last.html)
    assert "Sie können trotzdem buchen" in alert(last.html)
    assert "Hotline" in alert(last.html)
    assert [b.status for b in bookings(container)] == ["held"] * HOLDS_PER_HOUR


def test_the_refused_hold_is_explained_in_english(kiosk, world):
    service = make_service(world)
    kiosk.cookies.set("lang", "en")
    kiosk.headers["Accept-Language"] = "en"
    last = details_pages(kiosk, service.id, HOLDS_PER_HOUR + 1)[-1]

    assert "We could not keep this time for you" in alert(last.html)
    assert "You can still book" in alert(last.html)


def test_without_a_hold_the_form_still_books(kiosk, world, shared_app):
    service = make_service(world)
    last = details_pages(kiosk, service.id, HOLDS_PER_HOUR + 1)[-1]

    answer = submit_details(kiosk, last, f"/buchen/{service.id}/angaben")

    assert answer.status_code == 303
    assert "confirmed" in [b.status for b in bookings(shared_app.state.container)]
