"""Editing and deactivating services, teams and staff (scheduler/catalogue_edit.py,
web/pages/staff_admin_edit.py): who may, in one table; the forms end to end; a deactivated
service or advisor is no longer offered; a team with active services stays; the last
administrator and oneself cannot go; an advisor who leaves has each appointment to come moved
to a free colleague or cancelled after a confirmation that shows which (a stale one is 409).
The suite's clock is frozen at Monday 2031-01-06."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler.accounts import StaffIdentity
from scheduler.catalogue_edit import StaffChange, StillInUse
from scheduler.db import read_session
from scheduler.models import AuditEntry, Booking, BookingStatus, Role, Staff
from scheduler.requests import BookingRequest
from tests.web.pages.test_staff_login import post, staff_client

BERLIN = ZoneInfo("Europe/Berlin")
ROLES = ("anonymous", "advisor", "hotline", "admin")
EMAILS = {"advisor": "advisor@example.org", "hotline": "hotline@example.org"}


@pytest.fixture
def office(container, world):
    team = container.catalogue.create_team(world.admin, "Nord", None)
    service = world.service(name="Wohngeld", team_id=team.id)
    advisor = world.advisor([service], email="advisor@example.org")
    colleague = world.advisor([service], email="colleague@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    return {"team": team, "service": service, "advisor": advisor, "colleague": colleague}


def _paths(office):
    s, t, a = office["service"].id, office["team"].id, office["advisor"].id
    return [
        ("edit team", "get", f"/staff/admin/teams/{t}", (303, 403, 403, 200)),
        ("save team", "post", f"/staff/admin/teams/{t}", (303, 403, 403, 422)),
        ("team active", "post", f"/staff/admin/teams/{t}/aktiv", (303, 403, 403, 409)),
        ("edit service", "get", f"/staff/admin/anliegen/{s}", (303, 403, 403, 200)),
        ("save service", "post", f"/staff/admin/anliegen/{s}", (303, 403, 403, 422)),
        ("service active", "post", f"/staff/admin/anliegen/{s}/aktiv", (303, 403, 403, 303)),
        ("edit staff", "get", f"/staff/admin/mitarbeitende/{a}", (303, 403, 403, 200)),
        ("save staff", "post", f"/staff/admin/mitarbeitende/{a}", (303, 403, 403, 422)),
        (
            "deactivate",
            "post",
            f"/staff/admin/mitarbeitende/{a}/deaktivieren",
            (303, 403, 403, 200),
        ),
        ("activate", "post", f"/staff/admin/mitarbeitende/{a}/aktivieren", (303, 403, 403, 303)),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_who_may_open_and_send_each_page(app, client, office, role):
    browser = (
        client if role == "anonymous" else staff_client(app, EMAILS.get(role, "admin@example.org"))
    )
    for what, method, path, expected in _paths(office):
        if method == "get":
            response = browser.get(path, follow_redirects=False)
        else:
            # An empty form: where the role may send it, the form's own checks answer.
            response = post(browser, path)
        assert response.status_code == expected[ROLES.index(role)], what


def test_editing_a_service_changes_it_for_new_bookings(app, container, office):
    admin = staff_client(app, "admin@example.org")
    page = admin.get(f"/staff/admin/anliegen/{office['service'].id}")
    assert 'value="Wohngeld"' in page.text
    form = {
        "service-name": "Wohngeld und Lastenzuschuss",
        "service-duration_minutes": "45",
        "service-buffer_minutes": "5",
        "service-min_notice_minutes": "60",
        "service-horizon_days": "30",
        "service-channels": ["video"],
        "service-team_id": str(office["team"].id),
        "service-advisor_ids": [str(office["advisor"].id)],
    }
    response = post(admin, f"/staff/admin/anliegen/{office['service'].id}", form)
    assert response.status_code == 303
    [changed] = container.scheduler.services()
    assert (changed.name, changed.duration_minutes, changed.channels) == (
        "Wohngeld und Lastenzuschuss",
        45,
        ["video"],
    )
    assert [a.id for a in container.catalogue_edit.services()[0].advisors] == [office["advisor"].id]
    bad = post(
        admin,
        f"/staff/admin/anliegen/{office['service'].id}",
        {**form, "service-duration_minutes": "2"},
    )
    assert bad.status_code == 422
    assert 'id="service-duration_minutes-error"' in bad.text


def test_a_deactivated_service_is_not_offered_and_can_come_back(app, client, container, office):
    admin = staff_client(app, "admin@example.org")
    path = f"/staff/admin/anliegen/{office['service'].id}/aktiv"
    assert post(admin, path, {"active": "no"}).status_code == 303
    assert client.get("/api/v1/services").json() == []
    assert "Deaktiviert" in admin.get("/staff/admin").text
    assert post(admin, path, {"active": "yes"}).status_code == 303
    assert [s["name"] for s in client.get("/api/v1/services").json()] == ["Wohngeld"]


def test_a_team_with_active_services_stays_then_goes(app, container, office):
    admin = staff_client(app, "admin@example.org")
    team_path = f"/staff/admin/teams/{office['team'].id}"
    refused = post(admin, team_path + "/aktiv", {"active": "no"})
    assert refused.status_code == 409
    assert "Wohngeld" in refused.text
    post(admin, f"/staff/admin/anliegen/{office['service'].id}/aktiv", {"active": "no"})
    assert post(admin, team_path + "/aktiv", {"active": "no"}).status_code == 303
    assert not container.catalogue.teams()[0].active
    # Its service cannot come back while the team is away.
    again = post(admin, f"/staff/admin/anliegen/{office['service'].id}/aktiv", {"active": "yes"})
    assert again.status_code == 422
    renamed = post(admin, team_path, {"team-name": "Nordost", "team-email": "nord@example.org"})
    assert renamed.status_code == 303
    assert container.catalogue.teams()[0].name == "Nordost"


def test_editing_a_staff_member_and_making_them_team_lead(app, container, world, office):
    admin = staff_client(app, "admin@example.org")
    advisor = office["advisor"]
    form = {
        "advisor-name": "Berta Beispiel",
        "advisor-email": "Berta@Example.org",
        "advisor-role": "advisor",
        "advisor-team_id": str(office["team"].id),
        "advisor-team_lead": "yes",
        "advisor-service_ids": [str(office["service"].id)],
    }
    assert post(admin, f"/staff/admin/mitarbeitende/{advisor.id}", form).status_code == 303
    with read_session(container.sessions) as session:
        saved = session.get(Staff, advisor.id)
        assert (saved.name, saved.email, saved.team_lead) == (
            "Berta Beispiel",
            "berta@example.org",
            True,
        )
    lead = staff_client(app, "berta@example.org")
    assert lead.get("/staff/statistik").status_code == 200
    taken = post(
        admin,
        f"/staff/admin/mitarbeitende/{advisor.id}",
        {**form, "advisor-email": "colleague@example.org"},
    )
    assert taken.status_code == 422
    last = post(
        admin,
        f"/staff/admin/mitarbeitende/{world.admin.id}",
        {**form, "advisor-email": "admin@example.org", "advisor-role": "hotline"},
    )
    assert last.status_code == 422  # the only administrator keeps the role
    assert admin.get("/staff/admin/mitarbeitende/99999").status_code == 404


def _book(container, service, hour, email):
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=datetime(2031, 1, 8, hour, tzinfo=BERLIN),
            channel="video",
            name="Erika Mustermann",
            email=email,
        )
    )
    return placed.booking


def _advisor_of(container, booking_id):
    with read_session(container.sessions) as session:
        booking = session.get(Booking, booking_id)
        return booking.advisor_id, booking.status


def test_an_advisor_who_leaves_has_every_appointment_moved_or_cancelled(app, container, office):
    advisor, colleague = office["advisor"], office["colleague"]
    service = office["service"]
    # Two appointments at 9:00 (one each), one more at 10:00: whoever had 10:00 gets it.
    first = _book(container, service, 9, "a@example.org")
    second = _book(container, service, 9, "b@example.org")
    ours = [b for b in (first, second) if b.advisor_id == advisor.id]
    theirs = [b for b in (first, second) if b.advisor_id == colleague.id]
    assert len(ours) == len(theirs) == 1
    admin = staff_client(app, "admin@example.org")
    path = f"/staff/admin/mitarbeitende/{advisor.id}/deaktivieren"

    preview = post(admin, path)
    assert preview.status_code == 200
    assert "Wird abgesagt" in preview.text  # 9:00: the colleague is taken
    affected = str(ours[0].id)
    # Meanwhile a second appointment comes to the advisor: the preview is stale.
    late = _book(container, service, 11, "c@example.org")
    if late.advisor_id != advisor.id:
        late = _book(container, service, 11, "d@example.org")
    stale = post(admin, path, {"bestaetigt": "1", "betroffen": affected})
    assert stale.status_code == 409
    assert _advisor_of(container, ours[0].id) == (advisor.id, BookingStatus.CONFIRMED)

    fresh = ",".join(sorted(str(i) for i in (ours[0].id, late.id)))
    assert post(admin, path, {"bestaetigt": "1", "betroffen": fresh}).status_code == 303
    assert _advisor_of(container, ours[0].id)[1] == BookingStatus.CANCELLED
    assert _advisor_of(container, late.id) == (colleague.id, BookingStatus.CONFIRMED)
    with read_session(container.sessions) as session:
        left = session.scalars(
            select(Booking).where(
                Booking.advisor_id == advisor.id,
                Booking.status == BookingStatus.CONFIRMED,
            )
        ).all()
        assert left == []  # nobody keeps an appointment with someone who has gone
        assert not session.get(Staff, advisor.id).active
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "staff_deactivated" in actions
    # No longer offered: every free time on Wednesday is the colleague's.
    slots = container.scheduler.slots(service.id, date(2031, 1, 8), date(2031, 1, 8))
    assert slots
    assert {a for slot in slots for a in slot.advisor_ids} == {colleague.id}
    # Back again: active, and offered again.
    assert post(admin, f"/staff/admin/mitarbeitende/{advisor.id}/aktivieren").status_code == 303


def test_nobody_deactivates_themselves_or_the_last_administrator(app, container, world, office):
    admin = staff_client(app, "admin@example.org")
    own = post(
        admin, f"/staff/admin/mitarbeitende/{world.admin.id}/deaktivieren", {"bestaetigt": "1"}
    )
    assert own.status_code == 422
    with read_session(container.sessions) as session:
        assert session.get(Staff, world.admin.id).active
    # With a second administrator the first may go; the second, now the last, may not.
    second = world.advisor([], email="second@example.org", role=Role.ADMIN)
    container.catalogue_edit.deactivate_staff(world.admin, second.id)
    container.catalogue_edit.activate_staff(world.admin, second.id)
    identity = StaffIdentity.of(second)
    container.catalogue_edit.deactivate_staff(identity, world.admin.id)
    with pytest.raises(StillInUse):
        container.catalogue_edit.update_staff(
            identity, second.id, StaffChange("Second", "second@example.org", Role.HOTLINE, [])
        )
