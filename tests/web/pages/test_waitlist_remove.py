"""Taking one person off a waiting list from the staff pages (web/pages/staff_waitlist.py):
the people of a concern's list, a page that names the person and says what follows, and the
POST that removes (CSRF-protected) and leads back with a notice. Administrators and hotline
only, as `Waitlist.remove` allows; the person gets no mail about it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from notifications.models import OutboxMessage
from scheduler.db import read_session
from scheduler.models import AuditEntry, Staff
from scheduler.waitlist import JoinRequest
from scheduler.waitlist_models import EntryStatus, WaitlistEntry
from tests.web.pages.test_staff_login import post
from tests.web.pages.test_waitlist_pages import service, staff

__all__ = ["service", "staff"]  # fixtures of the waiting list's page tests, used here

PEOPLE = ("Helga Fischer", "Jonas Weber", "Erika Mustermann")


@pytest.fixture
def waiting(container, service):
    """Three people on the list of the concern, in this order."""
    return [
        container.waitlist.join(
            JoinRequest(
                service_id=service.id,
                name=name,
                email=f"{name.split()[0].lower()}@example.org",
                channel="video",
            )
        ).id
        for name in PEOPLE
    ]


def _line(service) -> str:
    return f"/staff/warteliste/anliegen/{service.id}"


def _remove(entry_id: int) -> str:
    return f"/staff/warteliste/eintrag/{entry_id}/entfernen"


def _status(container, entry_id: int) -> str:
    with read_session(container.sessions) as session:
        return session.scalars(
            select(WaitlistEntry.status).where(WaitlistEntry.id == entry_id)
        ).one()


def _mails(container) -> int:
    with read_session(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


@pytest.mark.parametrize(
    ("role", "reading", "removing"),
    [
        ("anonymous", 303, 303),
        ("advisor", 403, 403),  # even for their own concern: Waitlist.remove refuses
        ("hotline", 200, 303),
        ("admin", 200, 303),
    ],
)
def test_administrators_and_hotline_remove_people(
    client, staff, service, waiting, container, role, reading, removing
):
    clients, _ = staff
    browser = client if role == "anonymous" else clients[role]
    first = waiting[0]

    assert browser.get(_line(service), follow_redirects=False).status_code == reading
    assert browser.get(_remove(first), follow_redirects=False).status_code == reading
    answer = post(browser, _remove(first))

    assert answer.status_code == removing
    removed = removing == 303 and role != "anonymous"
    assert _status(container, first) == (EntryStatus.REMOVED if removed else EntryStatus.WAITING)
    if role == "anonymous":
        assert answer.headers["location"].startswith("/staff/login")


def test_the_list_names_the_people_in_line_and_links_each_removal(staff, service, waiting):
    clients, _ = staff
    page = clients["hotline"].get(_line(service)).text

    assert "Warteliste: Wohngeld: Erstberatung" in page
    assert "3 Personen stehen auf dieser Liste." in page
    assert [page.index(name) for name in PEOPLE] == sorted(page.index(n) for n in PEOPLE)
    for entry_id in waiting:
        assert f'href="{_remove(entry_id)}"' in page


def test_the_overview_links_to_the_list_for_those_who_may_remove(staff, service):
    clients, _ = staff
    link = f'href="{_line(service)}"'
    assert link in clients["admin"].get("/staff/warteliste").text
    assert link in clients["hotline"].get("/staff/warteliste").text
    assert link not in clients["advisor"].get("/staff/warteliste").text


def test_removing_asks_first_then_takes_the_person_off_and_says_so(
    staff, service, waiting, container
):
    clients, _ = staff
    hotline = clients["hotline"]
    second = waiting[1]
    mails = _mails(container)

    check = hotline.get(_remove(second)).text
    assert "Jonas Weber von der Warteliste nehmen?" in check
    assert "keine E-Mail" in check
    assert f'action="{_remove(second)}"' in check
    assert _status(container, second) == EntryStatus.WAITING  # opening the page changes nothing

    answer = post(hotline, _remove(second))

    assert answer.status_code == 303
    assert answer.headers["location"] == _line(service) + "?entfernt=1"
    assert _status(container, second) == EntryStatus.REMOVED
    assert _mails(container) == mails  # the person is told by staff, not by a mail of ours
    after = hotline.get(answer.headers["location"]).text
    assert "Die Person wurde von der Warteliste genommen." in after
    assert "Jonas Weber" not in after
    assert "2 Personen stehen auf dieser Liste." in after


def test_a_removed_person_cannot_be_removed_again(staff, waiting, container):
    clients, _ = staff
    first = waiting[0]
    post(clients["admin"], _remove(first))

    check = clients["admin"].get(_remove(first)).text
    again = post(clients["admin"], _remove(first))

    assert "Diese Person steht nicht mehr auf der Warteliste" in check
    assert f'action="{_remove(first)}"' not in check
    assert again.status_code == 303
    assert _status(container, first) == EntryStatus.REMOVED


def test_a_removal_is_audited_once_without_the_persons_name(staff, waiting, container):
    clients, _ = staff
    first = waiting[0]
    post(clients["hotline"], _remove(first))
    post(clients["hotline"], _remove(first))  # again: nothing more happens, nothing is logged

    with read_session(container.sessions) as session:
        hotline = session.scalars(
            select(Staff.id).where(Staff.email == "hotline@example.org")
        ).one()
        entries = session.execute(
            select(AuditEntry.actor_id, AuditEntry.detail).where(
                AuditEntry.action == "waitlist_entry_removed"
            )
        ).all()
    assert entries == [(hotline, f"waitlist entry {first}")]


def test_an_unknown_entry_or_concern_is_404(staff):
    clients, _ = staff
    admin = clients["admin"]
    assert admin.get(_remove(999_999)).status_code == 404
    assert post(admin, _remove(999_999)).status_code == 404
    assert admin.get("/staff/warteliste/anliegen/999999").status_code == 404


@pytest.mark.parametrize("token", [None, "forged-forged-forged-forged"])
def test_removing_needs_the_csrf_token(staff, waiting, container, token):
    clients, _ = staff
    data = {} if token is None else {"csrf_token": token}
    answer = clients["hotline"].post(_remove(waiting[0]), data=data, follow_redirects=False)
    assert answer.status_code == 403
    assert _status(container, waiting[0]) == EntryStatus.WAITING


@pytest.mark.parametrize(
    "path",
    [
        "/staff/warteliste/eintrag/abc/entfernen",
        "/staff/warteliste/anliegen/abc",
        "/staff/warteliste/anliegen/1?suche=" + "x" * 101,
    ],
)
def test_bad_input_is_422(staff, path):
    clients, _ = staff
    assert clients["admin"].get(path).status_code == 422


def test_a_search_finds_people_further_back_with_their_place(staff, service, waiting):
    clients, _ = staff
    page = clients["hotline"].get(_line(service), params={"suche": "ERIKA@"}).text
    assert "1 Person auf dieser Liste passt." in page
    assert "Erika Mustermann" in page
    assert "Helga Fischer" not in page
    row = page.split("Erika Mustermann</th>")[0].rsplit("<tr>", 1)[1]
    assert "<td>3" in row  # her place in the whole line


def test_the_pages_in_english(staff, service, waiting):
    clients, _ = staff
    hotline = clients["hotline"]
    assert "3 people are on this list." in hotline.get(_line(service) + "?lang=en").text
    check = hotline.get(_remove(waiting[0])).text
    assert "Remove Helga Fischer from the waiting list?" in check
    assert "We send them no e-mail about it" in check
