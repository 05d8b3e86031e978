"""Administration pages: services, teams and staff, over the same catalogue as the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from scheduler.models import Role
from tests.conftest import PASSWORD
from tests.web.pages.test_staff_login import field_error, log_in, post, staff_client


@pytest.fixture
def admin(app, world):
    return staff_client(app, "admin@example.org")


def _service_form(**fields):
    return {
        "service-name": "Grundsicherung: Antrag",
        "service-name_en": "Basic income: application",
        "service-description": "Wir gehen den Antrag gemeinsam durch.",
        "service-description_en": "We go through the application together.",
        "service-duration_minutes": "45",
        "service-buffer_minutes": "15",
        "service-min_notice_minutes": "240",
        "service-horizon_days": "30",
        "service-channels": ["video", "in_person"],
        "service-address": "Wilhelm-Höpfner-Ring 4",
        **fields,
    }


def test_an_admin_creates_a_service_with_its_team_and_advisors(admin, container, world):
    team = container.catalogue.create_team(world.admin, "Grundsicherung", None)
    anna = world.advisor([], email="anna@example.org")
    response = post(
        admin,
        "/staff/admin/anliegen",
        _service_form(**{"service-team_id": str(team.id), "service-advisor_ids": [str(anna.id)]}),
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/admin?angelegt=service#services"
    service = next(s for s in container.scheduler.services() if s.name == "Grundsicherung: Antrag")
    assert service.name_en == "Basic income: application"
    assert service.description_en == "We go through the application together."
    assert (service.duration_minutes, service.buffer_minutes) == (45, 15)
    assert (service.min_notice_minutes, service.horizon_days) == (240, 30)
    assert service.channels == ["video", "in_person"]
    assert service.team_id == team.id
    advisors = dict(container.catalogue.advisors(world.admin))
    assert [service.id] == next(ids for s, ids in advisors.items() if s.id == anna.id)
    page = admin.get(response.headers["location"]).text
    assert "Das Anliegen wurde angelegt." in page
    assert "Grundsicherung: Antrag" in page


@pytest.mark.parametrize(
    ("fields", "field_id"),
    [
        ({"service-name": ""}, "service-name"),
        ({"service-duration_minutes": "eine Stunde"}, "service-duration_minutes"),
        ({"service-duration_minutes": "2"}, "service-duration_minutes"),
        ({"service-horizon_days": "999"}, "service-horizon_days"),
        ({"service-channels": []}, "service-channels"),
        ({"service-channels": ["fax"]}, "service-channels"),
        ({"service-team_id": "4242"}, "service-team_id"),
        ({"service-advisor_ids": ["4242"]}, "service-advisor_ids"),
        ({"service-advisor_ids": ["x"]}, "service-advisor_ids"),
    ],
)
def test_bad_service_input_is_shown_at_its_field(admin, container, fields, field_id):
    response = post(admin, "/staff/admin/anliegen", _service_form(**fields))
    assert response.status_code == 422
    assert f'<a href="#{field_id}">' in response.text
    assert field_error(response.text, field_id)
    assert 'value="Basic income: application"' in response.text  # what was entered stays
    assert container.scheduler.services() == []


def test_an_admin_creates_a_team(admin, container):
    response = post(
        admin, "/staff/admin/teams", {"team-name": "Wohngeld", "team-email": "wg@example.org"}
    )
    assert response.status_code == 303
    assert [(t.name, t.email) for t in container.catalogue.teams()] == [
        ("Wohngeld", "wg@example.org")
    ]
    again = post(admin, "/staff/admin/teams", {"team-name": "Wohngeld"})
    assert again.status_code == 422
    assert field_error(again.text, "team-name")
    bad = post(admin, "/staff/admin/teams", {"team-name": "Pflege", "team-email": "kein"})
    assert '<a href="#team-email">' in bad.text


def test_an_admin_creates_an_advisor_who_can_log_in(app, admin, container, world):
    service = world.service()
    team = container.catalogue.create_team(world.admin, "Pflege", None)
    response = post(
        admin,
        "/staff/admin/mitarbeitende",
        {
            "advisor-name": "Sabine Neumann",
            "advisor-email": "sabine@example.org",
            "advisor-role": "advisor",
            "advisor-team_id": str(team.id),
            "advisor-service_ids": [str(service.id)],
            "advisor-password": PASSWORD,
        },
    )
    assert response.status_code == 303
    created = next(
        (s, ids)
        for s, ids in container.catalogue.advisors(world.admin)
        if s.name == "Sabine Neumann"
    )
    assert created[0].team_id == team.id
    assert created[1] == [service.id]
    sabine = TestClient(app)
    log_in(sabine, "sabine@example.org")
    assert sabine.get("/staff", follow_redirects=False).headers["location"] == "/staff/agenda"


@pytest.mark.parametrize(
    ("fields", "field_id"),
    [
        ({"advisor-email": "admin@example.org"}, "advisor-email"),
        ({"advisor-email": "nope"}, "advisor-email"),
        ({"advisor-password": "kurz"}, "advisor-password"),
        ({"advisor-role": "chef"}, "advisor-role"),
        ({"advisor-name": ""}, "advisor-name"),
        ({"advisor-service_ids": ["4242"]}, "advisor-service_ids"),
    ],
)
def test_bad_staff_input_is_shown_at_its_field_and_the_password_not_echoed(admin, fields, field_id):
    form = {
        "advisor-name": "Thomas Richter",
        "advisor-email": "thomas@example.org",
        "advisor-role": "hotline",
        "advisor-password": "ein geheimes passwort",
        **fields,
    }
    response = post(admin, "/staff/admin/mitarbeitende", form)
    assert response.status_code == 422
    assert f'<a href="#{field_id}">' in response.text
    assert form["advisor-password"] not in response.text


@pytest.mark.parametrize("role", [Role.HOTLINE, Role.ADVISOR])
def test_only_admins_may_administrate(app, world, role):
    world.advisor([], email="someone@example.org", role=role)
    client = staff_client(app, "someone@example.org")
    assert client.get("/staff/admin").status_code == 403
    for path in ("/staff/admin/anliegen", "/staff/admin/teams", "/staff/admin/mitarbeitende"):
        assert post(client, path, {"team-name": "Heimlich"}).status_code == 403


def test_the_lists_show_services_teams_and_staff_in_english(admin, container, world):
    world.service(name="Pflege: Beratung", channels=["phone"], name_en="Care: advice")
    container.catalogue.create_team(world.admin, "Pflege", "pflege@example.org")
    page = admin.get("/staff/admin?lang=en").text
    assert '<caption class="visually-hidden">Services</caption>' in page
    assert "Care: advice" in page
    assert "pflege@example.org" in page
    assert "admin@example.org" in page
    assert "Add a staff member" in page


@pytest.mark.parametrize(
    ("language", "hint"),
    [("de", "Dies ist ein sehr häufiges Passwort."), ("en", "This is a very common password.")],
)
def test_a_weak_password_is_refused_with_the_reasons_in_the_page_language(admin, language, hint):
    form = {
        "advisor-name": "Thomas Richter",
        "advisor-email": "thomas@example.org",
        "advisor-role": "hotline",
        "advisor-password": "password12",
    }
    admin.headers["Accept-Language"] = language
    response = post(admin, "/staff/admin/mitarbeitende", form)
    assert response.status_code == 422
    assert hint in field_error(response.text, "advisor-password")
