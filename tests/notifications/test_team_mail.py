"""Notices to a team's address, through a real SMTP server: each booking, move and
cancellation of the team's services, in the office's language, with the staff page's link and
nothing of the citizen's (no magic link, no invite, no e-mail address or phone number)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifications.models import OutboxStatus
from scheduler.db import read_session
from scheduler.models import Service
from tests.conftest import World
from tests.notifications.conftest import (
    CITIZEN,
    TUESDAY,
    SmtpServer,
    book,
    deliver_all,
    outbox,
    text_of,
)
from web.container import Container

TEAM = "team-nord@example.org"
PHONE = "0176 1234567"


@pytest.fixture
def team_service(world: World) -> Service:
    team = world.container.catalogue.create_team(world.admin, "Team Nord", TEAM)
    service = world.service(team_id=team.id)
    world.advisor([service])
    return service


def _to_team(smtp: SmtpServer) -> list[tuple[str, str, list[str]]]:
    return [
        (
            " ".join(str(r.message["Subject"]).split()),  # unfolded
            text_of(r.message),
            [part.get_content_type() for part in r.message.walk()],
        )
        for r in smtp.received
        if r.rcpt_tos == [TEAM]
    ]


def test_the_team_hears_of_a_booking_its_move_and_its_cancellation(
    container: Container, team_service: Service, smtp: SmtpServer
) -> None:
    booking = book(container, team_service, TUESDAY, channel="phone", phone=PHONE)
    deliver_all(container)
    container.scheduler.reschedule(booking.reference, TUESDAY + timedelta(days=1))
    deliver_all(container)
    container.scheduler.cancel(booking.reference)
    deliver_all(container)

    notices = _to_team(smtp)
    assert [subject for subject, _, _ in notices] == [
        f"Neue Buchung {booking.reference}: Beratung am Dienstag, 7. Januar 2031",
        f"Buchung verschoben {booking.reference}: Beratung jetzt am Mittwoch, 8. Januar 2031",
        f"Buchung abgesagt {booking.reference}: Beratung am Mittwoch, 8. Januar 2031",
    ]
    first, moved, _cancelled = (text for _, text, _ in notices)
    assert "Dienstag, 7. Januar 2031, 09:00 bis 09:30 Uhr" in first
    assert "Bisheriger Termin: Dienstag, 7. Januar 2031" in moved
    assert "Ratsuchende Person: Erika Mustermann" in first
    assert f"/staff/buchungen/{booking.reference}" in first
    assert "Team Nord" in first
    for _, text, parts in notices:
        # A notice for staff: nothing that acts as the citizen or reaches them.
        assert "/b/" not in text
        assert "/j/" not in text
        assert CITIZEN not in text
        assert PHONE not in text
        assert "text/calendar" not in parts
    # The citizen's own mails go on as before.
    assert [r.rcpt_tos for r in smtp.received].count([CITIZEN]) == 3


def test_a_service_without_a_team_address_sends_no_notice(
    container: Container, world: World, smtp: SmtpServer
) -> None:
    silent = world.container.catalogue.create_team(world.admin, "Team Süd", None)
    service = world.service(name="Wohngeld", team_id=silent.id)
    world.advisor([service])
    book(container, service, TUESDAY)
    deliver_all(container)
    assert [r.rcpt_tos for r in smtp.received] == [[CITIZEN]]


def test_a_notice_overtaken_by_the_cancellation_is_not_sent(
    container: Container, team_service: Service, smtp: SmtpServer
) -> None:
    booking = book(container, team_service, TUESDAY)
    container.scheduler.cancel(booking.reference)
    deliver_all(container)

    assert [subject.split(" ")[1] for subject, _, _ in _to_team(smtp)] == ["abgesagt"]
    [dropped] = outbox(container, recipient=TEAM, kind="team_booked")
    assert dropped.status != OutboxStatus.SENT


def test_a_team_notice_reads_in_english_too(container: Container, team_service: Service) -> None:
    booking = book(container, team_service, TUESDAY)
    [row] = outbox(container, recipient=TEAM)
    row.language = "en"
    with read_session(container.sessions) as session:
        composed = container.outbox.composer.compose(session, row, TUESDAY)
    assert composed is not None
    assert (
        composed.subject == f"New booking {booking.reference}: Beratung on Tuesday, 7 January 2031"
    )
    assert "Someone has booked an appointment with your team." in composed.text
    assert "Citizen: Erika Mustermann" in composed.text
    assert composed.ics is None
