"""The details form books at most once (web/pages/once.py): a double click, a
reload that sends it again or a retry after the busy page gets the booking the form made,
not the page of a time someone else has taken."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.pages.test_citizen_flow import (
    bookings,
    make_service,
    open_page,
    read,
    submit_details,
)
from web.container import Container
from web.pages.security import LINK_COOKIE


def _form(client: TestClient, service_id: int):
    time_page = open_page(client, f"/buchen/{service_id}/zeit", kanal="video")
    return open_page(client, time_page.hrefs(f"/buchen/{service_id}/angaben")[0])


def test_the_same_form_sent_twice_books_once_and_confirms_both_times(
    client: TestClient, world, container: Container
) -> None:
    service = make_service(world)
    form = _form(client, service.id)
    path = f"/buchen/{service.id}/angaben"

    first = submit_details(client, form, path)
    again = submit_details(client, form, path)

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"] == "/termin/bestaetigt"
    assert again.cookies[LINK_COOKIE] == first.cookies[LINK_COOKIE]
    assert len(bookings(container)) == 1


def test_the_form_changed_after_it_booked_is_a_booking_of_its_own(
    client: TestClient, world, container: Container
) -> None:
    """Back to the sent form, another e-mail address, sent again: not the first booking's
    answer, but a second attempt at the time, which the first booking holds."""
    service = make_service(world)
    form = _form(client, service.id)
    path = f"/buchen/{service.id}/angaben"

    assert submit_details(client, form, path).status_code == 303
    changed = read(submit_details(client, form, path, email="other@example.org"))

    assert changed.status == 409
    assert "Dieser Termin wurde gerade von jemand anderem gebucht." in changed.text
    assert [b.email for b in bookings(container)] == ["erika@example.org"]


def test_each_form_as_rendered_has_a_key_of_its_own(client: TestClient, world) -> None:
    service = make_service(world)

    keys = {_form(client, service.id).inputs["vorgang"] for _ in range(3)}

    assert len(keys) == 3
    assert all(len(key) >= 20 for key in keys)
