"""The fields added for the pages, in the JSON API: a booking's needs and the English texts of
a service (optional; the v1 contract's fields stay as they were)."""

from __future__ import annotations

from tests.web.pages.test_citizen_flow import TUESDAY, at, make_service, open_page


def test_needs_go_in_with_a_booking_and_come_back_in_its_answers(client, world):
    service = make_service(world)
    body = {
        "service_id": service.id,
        "start": at(TUESDAY, 9).isoformat(),
        "channel": "in_person",
        "name": "Erika Mustermann",
        "email": "erika@example.org",
        "needs": {"interpreter_language": " Türkisch ", "wheelchair_access": True},
    }

    created = client.post("/api/v1/bookings", json=body)

    assert created.status_code == 201, created.text
    needs = {"interpreter_language": "Türkisch", "sign_language": False, "wheelchair_access": True}
    assert created.json()["needs"] == needs
    token = created.json()["manage_url"].rsplit("/", 1)[1]
    fetched = client.get("/api/v1/booking", headers={"Authorization": f"Bearer {token}"})
    assert fetched.json()["needs"] == needs
    staff = world.login(client)
    reference = created.json()["reference"]
    listed = client.get(f"/api/v1/staff/bookings/{reference}", headers=staff)
    assert listed.json()["needs"] == needs


def test_a_booking_without_needs_has_none(client, world):
    service = make_service(world)
    body = {
        "service_id": service.id,
        "start": at(TUESDAY, 9).isoformat(),
        "channel": "video",
        "name": "Erika Mustermann",
        "email": "erika@example.org",
    }

    created = client.post("/api/v1/bookings", json=body)

    assert created.json()["needs"] == {
        "interpreter_language": None,
        "sign_language": False,
        "wheelchair_access": False,
    }


def test_an_overlong_interpreter_language_is_refused(client, world):
    service = make_service(world)
    body = {
        "service_id": service.id,
        "start": at(TUESDAY, 9).isoformat(),
        "channel": "video",
        "name": "Erika Mustermann",
        "email": "erika@example.org",
        "needs": {"interpreter_language": "x" * 51},
    }

    assert client.post("/api/v1/bookings", json=body).status_code == 422


def test_english_service_texts_go_in_through_the_api_and_show_on_english_pages(client, world):
    admin = world.login(client)
    created = client.post(
        "/api/v1/services",
        headers=admin,
        json={
            "name": "Wohngeld: Erstberatung",
            "description": "Ob Ihnen Wohngeld zusteht.",
            "name_en": "Housing benefit: first consultation",
            "description_en": "Whether you can get housing benefit.",
            "duration_minutes": 30,
            "channels": ["video"],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["name_en"] == "Housing benefit: first consultation"
    listed = client.get("/api/v1/services").json()
    assert listed[0]["description_en"] == "Whether you can get housing benefit."

    english = open_page(client, "/", lang="en")
    german = open_page(client, "/", lang="de")

    assert "Housing benefit: first consultation" in english.text
    assert "Whether you can get housing benefit." in english.text
    assert "Wohngeld: Erstberatung" in german.text
    assert "Ob Ihnen Wohngeld zusteht." in german.text


def test_without_english_texts_the_english_page_shows_the_german_ones(client, world):
    make_service(world)

    english = open_page(client, "/", lang="en")

    assert "Wohngeld: Erstberatung" in english.text
    assert "Ob Ihnen Wohngeld zusteht." in english.text
    assert "Duration: 30 minutes" in english.text
    assert "Video consultation" in english.text
    assert "Phone callback" in english.text
