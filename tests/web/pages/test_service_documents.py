"""The admin page of the documents a service names (`/staff/admin/anliegen/{id}/unterlagen`):
admins only, CSRF, the list saved in order with German and English names, lines removed,
and a bad list answered with the form, the errors at their fields and nothing changed."""

from __future__ import annotations

import pytest

from documents.requirements import MAX_NAMED, NamedEntry, Requirements
from scheduler.models import Role
from tests.web.pages.test_citizen_flow import make_service, read
from tests.web.pages.test_staff_login import field_error, post, staff_client


@pytest.fixture
def admin(app, world):
    return staff_client(app, "admin@example.org")


@pytest.fixture
def service(world):
    return make_service(world)


@pytest.fixture
def requirements(container) -> Requirements:
    return Requirements(container.sessions)


def url(service) -> str:
    return f"/staff/admin/anliegen/{service.id}/unterlagen"


def names(requirements, service) -> list[tuple[str, str | None]]:
    return [(n.name, n.name_en) for n in requirements.named(service.id)]


def lines(*rows: dict[str, str]) -> dict[str, str]:
    form = {"lines": str(len(rows))}
    for i, row in enumerate(rows):
        form |= {f"doc-{i}-{key}": value for key, value in row.items()}
    return form


def test_the_admin_page_links_to_the_page_of_each_service(admin, service):
    page = admin.get("/staff/admin")

    assert f'href="{url(service)}"' in page.text
    assert "Angeforderte Unterlagen" in page.text


def test_an_admin_adds_named_documents_in_german_and_english(admin, service, requirements):
    page = read(admin.get(url(service)))
    assert page.status == 200
    assert "Angeforderte Unterlagen: " in page.text
    # An empty list: three empty lines for new documents.
    assert {"doc-0-name", "doc-1-name", "doc-2-name"} <= set(page.attributes)
    assert "doc-3-name" not in page.attributes

    answer = post(
        admin,
        url(service),
        lines(
            {"name": "Mietvertrag", "name_en": "Lease", "position": "2"},
            {"name": "Letzter Bescheid", "name_en": "", "position": "1"},
            {"name": "", "name_en": "", "position": ""},
        ),
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == url(service) + "?gespeichert=true"
    assert names(requirements, service) == [("Letzter Bescheid", None), ("Mietvertrag", "Lease")]
    saved = read(admin.get(answer.headers["location"]))
    assert "Die Liste der Unterlagen wurde gespeichert." in saved.text
    assert saved.inputs["doc-0-name"] == "Letzter Bescheid"
    assert saved.inputs["doc-1-name_en"] == "Lease"


def test_an_admin_renames_and_removes_entries_which_keep_their_ids(admin, service, requirements):
    lease, notice = requirements.replace(
        service.id, [NamedEntry("Mietvertrag"), NamedEntry("Bescheid")]
    )

    answer = post(
        admin,
        url(service),
        lines(
            {"id": str(lease.id), "name": "Mietvertrag", "name_en": "Lease", "position": "1"},
            {"id": str(notice.id), "name": "Bescheid", "position": "2", "remove": "yes"},
            {"name": "Kontoauszüge", "position": ""},
        ),
    )

    assert answer.status_code == 303
    after = requirements.named(service.id)
    assert [(n.id, n.name, n.name_en) for n in after[:1]] == [(lease.id, "Mietvertrag", "Lease")]
    assert [n.name for n in after] == ["Mietvertrag", "Kontoauszüge"]


@pytest.mark.parametrize(
    ("rows", "field_id", "words"),
    [
        (
            [{"name": "", "name_en": "Lease"}],
            "doc-0-name",
            "Bitte geben Sie den deutschen Namen des Dokuments ein.",
        ),
        (
            [{"name": "Mietvertrag"}, {"name": "mietvertrag"}],
            "doc-1-name",
            "Dieses Dokument steht zweimal in der Liste.",
        ),
        ([{"name": "x" * 101}], "doc-0-name", "höchstens 100 Zeichen"),
        ([{"name": "Mietvertrag", "position": "erster"}], "doc-0-position", "ganze Zahl"),
        (
            [{"name": f"Dokument {i}"} for i in range(MAX_NAMED + 1)],
            "doc-0-name",
            f"höchstens {MAX_NAMED} Unterlagen",
        ),
    ],
)
def test_a_bad_list_comes_back_with_the_error_and_changes_nothing(
    admin, service, requirements, rows, field_id, words
):
    requirements.replace(service.id, [NamedEntry("Vorher")])

    answer = post(admin, url(service), lines(*rows))

    assert answer.status_code == 422
    assert words in field_error(answer.text, field_id)
    assert 'class="error-summary"' in answer.text
    assert read(answer).text.startswith("Fehler:")
    assert names(requirements, service) == [("Vorher", None)]


def test_saving_needs_the_csrf_token(admin, service, requirements):
    answer = admin.post(url(service), data=lines({"name": "Mietvertrag"}), follow_redirects=False)

    assert answer.status_code == 403
    assert names(requirements, service) == []


def test_an_unknown_service_is_not_found(admin):
    assert admin.get("/staff/admin/anliegen/999999/unterlagen").status_code == 404


@pytest.mark.parametrize("role", [Role.HOTLINE, Role.ADVISOR])
def test_only_admins_may_edit_the_named_documents(app, world, service, requirements, role):
    world.advisor([service], email="someone@example.org", role=role)
    client = staff_client(app, "someone@example.org")

    assert client.get(url(service)).status_code == 403
    assert post(client, url(service), lines({"name": "Heimlich"})).status_code == 403
    assert names(requirements, service) == []


def test_without_a_login_the_page_sends_to_the_login(client, service):
    answer = client.get(url(service), follow_redirects=False)

    assert answer.status_code in (302, 303)
    assert "/staff/login" in answer.headers["location"]
