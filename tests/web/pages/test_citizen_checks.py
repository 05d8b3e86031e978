"""The citizen's pages refuse what cannot work with a clear page: form errors with a summary
linked to the fields, a missing CSRF token, unknown services and malformed addresses."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from scheduler.catalogue import HoursSpec
from tests.web.pages.test_citizen_flow import (
    TUESDAY,
    at,
    bookings,
    details_values,
    hold_slot,
    make_service,
    open_page,
    read,
    submit_details,
)
from web.app import create_app


@pytest.fixture
def service(world):
    return make_service(world)


@pytest.fixture
def form(client, service):
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    details = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])
    return hold_slot(client, details, service.id)


def test_errors_are_summarised_linked_and_marked_and_the_entries_kept(
    client, service, form, container
):
    answer = read(
        submit_details(
            client,
            form,
            f"/buchen/{service.id}/angaben",
            name="",
            email="erika(at)example.org",
            interpreter_language="Ukrainisch",
            notes="Bitte mit Unterlagen",
            consent="",
        )
    )

    assert answer.status == 422
    assert answer.html.count('class="error-summary"') == 1
    assert "Bitte prüfen Sie Ihre Angaben" in answer.text
    summary_links = answer.hrefs("#field-")
    assert summary_links == ["#field-name", "#field-email", "#field-consent"]
    for field_id in ("field-name", "field-email", "field-consent"):
        attributes = answer.attributes[field_id]
        assert attributes["aria-invalid"] == "true"
        assert f"{field_id}-error" in attributes["aria-describedby"].split()
        assert answer.attributes[f"{field_id}-error"]["class"] == "field-error"
    assert "Geben Sie Ihren Namen ein." in answer.text
    assert answer.inputs["email"] == "erika(at)example.org"
    assert answer.inputs["interpreter_language"] == "Ukrainisch"
    assert "Bitte mit Unterlagen" in answer.html
    assert answer.inputs["hold"] == form.inputs["hold"]
    assert answer.text.startswith("Fehler: Ihre Angaben")  # the <title>
    assert [b.status for b in bookings(container)] == ["held"]


def test_the_errors_are_in_english_on_an_english_page(client, service, form):
    client.get("/?lang=en")

    answer = read(submit_details(client, form, f"/buchen/{service.id}/angaben", consent=""))

    assert "Agree to the processing of your data to book the appointment." in answer.text


def test_a_phone_callback_needs_a_phone_number(client, service):
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="phone")
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])

    answer = read(submit_details(client, form, f"/buchen/{service.id}/angaben"))

    assert answer.status == 422
    assert answer.hrefs("#field-") == ["#field-phone"]
    assert "Geben Sie die Telefonnummer ein, unter der wir Sie anrufen sollen." in answer.text


@pytest.mark.parametrize(
    ("fields", "field_id"),
    [
        ({"phone": "call me maybe"}, "#field-phone"),
        ({"language": "fr"}, "#field-language"),
        ({"notes": "x" * 501}, "#field-notes"),
        ({"interpreter_language": "x" * 51}, "#field-interpreter"),
        ({"name": "x" * 201}, "#field-name"),
        ({"name": "Erika\x07"}, "#field-name"),
    ],
)
def test_a_bad_entry_is_named_at_its_field(client, service, form, fields, field_id):
    answer = read(submit_details(client, form, f"/buchen/{service.id}/angaben", **fields))

    assert answer.status == 422
    assert answer.hrefs("#field-") == [field_id]


def test_a_form_without_csrf_token_is_refused(client, service, form, container):
    values = details_values(form)
    del values["csrf_token"]

    answer = read(client.post(f"/buchen/{service.id}/angaben", data=values))

    assert answer.status == 403
    assert "Nicht erlaubt" in answer.text
    assert [b.status for b in bookings(container)] == ["held"]


def test_a_form_with_a_wrong_csrf_token_is_refused(client, service, form):
    values = details_values(form, csrf_token="x" * 43)

    assert client.post(f"/buchen/{service.id}/angaben", data=values).status_code == 403


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/buchen/abc", 422),
        ("/buchen/0", 422),
        ("/buchen/99999999999999999999", 422),
        ("/buchen/999", 404),
        ("/buchen/{id}/zeit?kanal=fax", 422),
        ("/buchen/{id}/zeit?kanal=video&ab=2031-02-30", 422),
        ("/buchen/{id}/zeit?kanal=video&ab=morgen", 422),
        ("/buchen/{id}/angaben?kanal=video", 422),
        ("/buchen/{id}/angaben?kanal=video&start=heute", 422),
        ("/buchen/{id}/angaben?kanal=video&start=2031-01-07T09:00:00", 422),
        # Not a slot time: the details page holds nothing, so it only looks up the free
        # slots and shows the time picker of that day, as for a time taken meanwhile.
        ("/buchen/{id}/angaben?kanal=video&start=2031-01-07T09:07:00%2B01:00", 409),
        ("/buchen/{id}/angaben?kanal=video&start=2030-01-07T09:00:00%2B01:00", 422),
        ("/buchen/{id}/angaben?kanal=video&start=9999-12-31T23:59:00%2B01:00", 422),
    ],
)
def test_bad_addresses_get_a_clear_page(client, service, path, status):
    answer = read(client.get(path.replace("{id}", str(service.id))))

    assert answer.status == status
    assert 'lang="de"' in answer.html
    assert "+49 391 540-0" in answer.text  # what to do instead: the hotline


def test_a_channel_the_service_does_not_offer_is_refused(client, world):
    service = make_service(world, channels=["video", "phone"])

    answer = client.get(f"/buchen/{service.id}/zeit", params={"kanal": "in_person"})

    assert answer.status_code == 422


def test_a_post_with_a_bad_start_gets_a_page(client, service, form):
    answer = submit_details(client, form, f"/buchen/{service.id}/angaben", start="gestern")

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")


def test_an_unencoded_plus_in_the_start_still_works(client, service):
    answer = client.get(f"/buchen/{service.id}/angaben?kanal=video&start=2031-01-07T09:00:00+01:00")

    assert answer.status_code == 200


def test_the_time_list_shows_the_next_free_slot_and_moves_week_by_week(client, service):
    page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")

    assert "Nächster freier Termin: Dienstag, 7. Januar 2031, 09:00" in page.text
    assert "Woche vom Mo. 6. Jan. bis So. 12. Jan." in page.text
    assert not any("Vorherige Woche" in label for _, label in page.links)
    following = open_page(client, page.link("Nächste Woche"))
    assert "Woche vom Mo. 13. Jan. bis So. 19. Jan." in following.text
    assert "Montag, 13. Januar 2031" in following.text
    assert "Nächster freier Termin: Dienstag, 7. Januar 2031, 09:00" in following.text
    back = open_page(client, following.link("Vorherige Woche"))
    assert "Woche vom Mo. 6. Jan." in back.text


def test_a_week_without_free_times_says_so_and_links_the_next_free_week(client, world, container):
    service = world.service(name="Pflege", channels=["video"])
    world.advisor([service], hours=[HoursSpec(0, at(TUESDAY, 9).time(), at(TUESDAY, 12).time())])
    container.catalogue.add_absence(
        world.admin, 2, at(date(2031, 1, 12), 0), at(date(2031, 1, 25), 0)
    )

    page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video", ab="2031-01-13")

    assert "In dieser Woche gibt es keine freien Termine." in page.text
    later = open_page(client, page.link("Zur nächsten Woche mit freien Terminen"))
    assert "Montag, 27. Januar 2031" in later.text


def test_a_week_beyond_the_horizon_shows_the_last_bookable_week(client, service):
    far = (TUESDAY + timedelta(days=400)).isoformat()

    page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video", ab=far)

    assert page.status == 200
    assert not any("Nächste Woche" in label for _, label in page.links)


def test_too_many_slot_searches_get_the_too_many_requests_page(settings, clock, world):
    service = make_service(world)
    # In this process's own window: counts in a shared Redis carry over from other tests
    # (tests/web/test_protection.py covers the Redis window).
    strict = settings.model_copy(update={"slot_searches_per_minute": 2, "redis_url": None})
    app = create_app(strict, clock=clock)
    try:
        with TestClient(app) as client:
            path = f"/buchen/{service.id}/zeit?kanal=video"
            assert [client.get(path).status_code for _ in range(2)] == [200, 200]

            page = read(client.get(path))
    finally:
        app.state.container.engine.dispose()

    assert page.status == 429
    assert "Zu viele Anfragen" in page.text


def test_a_forged_bot_check_is_shown_in_the_error_summary_and_nothing_is_booked(
    client, service, form, container
):
    answer = read(
        submit_details(client, form, f"/buchen/{service.id}/angaben", altcha="eyJmb3JnZWQiOjF9")
    )

    assert answer.status == 422
    assert "Die automatische Prüfung gegen Bots ist fehlgeschlagen" in answer.text
    assert "#field-altcha" in [href for href, _ in answer.links]
    assert answer.attributes["field-altcha"]["tag"] == "div"
    assert answer.inputs["name"] == "Erika Mustermann"
    assert [b.status for b in bookings(container)] == ["held"]  # the slot is still kept
