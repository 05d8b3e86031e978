"""The calendar invites, as they arrive at a real SMTP server and as the API serves them: valid
for two independent parsers (icalendar, and ical.js run by node), one UID for the booking's
life with a rising SEQUENCE, METHOD:CANCEL on cancellation, Europe/Berlin in the RRULE form,
and nothing in them that must not end up in a shared calendar."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar, Event

from scheduler.models import Service
from scheduler.views import BookingInfo
from tests.conftest import World, booking_body
from tests.notifications.conftest import (
    CITIZEN,
    TUESDAY,
    Received,
    SmtpServer,
    book,
    calendar_part,
    deliver_all,
    ics_of,
    unfold,
)
from web.container import Container

ICALJS_DIR = Path(__file__).parents[1] / "icaljs"
THURSDAY = TUESDAY + timedelta(days=2)
ADDRESS = "Breiter Weg 222, 39104 Magdeburg"
NOTES = "Bitte mit Gebärdendolmetscherin"
PHONE = "0176 9876543"

# Parses an iCalendar text from stdin with ical.js and prints what the tests compare. The zones
# the text defines are registered first, so times resolve through its own VTIMEZONE.
ICALJS_SCRIPT = """
const ICAL = require(require.resolve("ical.js", { paths: [process.argv[1]] }));
const text = require("fs").readFileSync(0, "utf8");
const calendar = new ICAL.Component(ICAL.parse(text));
for (const zone of calendar.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(new ICAL.Timezone(zone));
}
const vevent = calendar.getFirstSubcomponent("vevent");
const event = new ICAL.Event(vevent);
const dtstart = vevent.getFirstProperty("dtstart");
console.log(JSON.stringify({
  method: calendar.getFirstPropertyValue("method"),
  uid: event.uid,
  sequence: event.sequence,
  status: vevent.getFirstPropertyValue("status"),
  dtstart: dtstart.getFirstValue().toString(),
  tzid: dtstart.getParameter("tzid"),
  start: event.startDate.toUnixTime(),
  end: event.endDate.toUnixTime(),
  organizer: vevent.getFirstPropertyValue("organizer"),
  attendee: vevent.getFirstPropertyValue("attendee"),
  location: vevent.getFirstPropertyValue("location"),
  alarms: vevent.getAllSubcomponents("valarm").length,
}));
"""


def icaljs(ics: str) -> dict[str, Any]:
    """What ical.js reads from `ics`; needs node and `npm ci --prefix tests/icaljs`."""
    node = shutil.which("node")
    if node is None or not (ICALJS_DIR / "node_modules" / "ical.js").is_dir():
        reason = "needs node and tests/icaljs/node_modules (npm ci --prefix tests/icaljs)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    result = subprocess.run(
        [node, "-e", ICALJS_SCRIPT, str(ICALJS_DIR)],
        input=ics,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def parse(ics: str) -> tuple[Calendar, Event]:
    """The calendar and its one VEVENT, read with icalendar, which must report no errors."""
    calendar = Calendar.from_ical(ics)
    for component in calendar.walk():
        assert component.errors == [], (component.name, component.errors)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@pytest.fixture
def service(world: World) -> Service:
    team = world.container.catalogue.create_team(
        world.admin, "Wohngeldstelle", "wohngeld@example.org"
    )
    service = world.service(team_id=team.id, channels=["video", "phone", "in_person"])
    world.advisor([service])
    return service


def _delivered(container: Container, smtp: SmtpServer) -> list[Received]:
    """The mails to the citizen (the team's address gets notices of its own, without invite)."""
    deliver_all(container)
    return [r for r in smtp.received if r.rcpt_tos != ["wohngeld@example.org"]]


def _confirmation_ics(container: Container, service: Service, smtp: SmtpServer) -> str:
    book(container, service, TUESDAY)
    [received] = _delivered(container, smtp)
    return ics_of(received.message)


def _life(container: Container, service: Service, smtp: SmtpServer) -> list[str]:
    """The invites of a booking that is made, moved to Thursday and cancelled, each change
    delivered before the next (messages are composed when sent)."""
    booking = book(container, service, TUESDAY, phone=PHONE, notes=NOTES)
    deliver_all(container)
    container.scheduler.reschedule(booking.reference, THURSDAY)
    deliver_all(container)
    container.scheduler.cancel(booking.reference)
    delivered = _delivered(container, smtp)
    assert [r.message["Subject"].split()[0] for r in delivered] == [
        "Terminbestätigung",
        "Terminänderung",
        "Terminabsage",
    ]
    return [ics_of(r.message) for r in delivered]


# -- two parsers ---------------------------------------------------------------------------------


def test_delivered_invite_parses_with_icalendar_without_errors(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    calendar, event = parse(_confirmation_ics(container, service, smtp))

    assert calendar["METHOD"] == "REQUEST"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == TUESDAY
    assert event.decoded("DTEND") == TUESDAY + timedelta(minutes=30)
    assert event.decoded("DTSTAMP") == datetime(2031, 1, 6, 7, 0, tzinfo=UTC)
    assert event["STATUS"] == "CONFIRMED"


def test_delivered_invite_parses_with_icaljs(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    ics = _confirmation_ics(container, service, smtp)
    _, event = parse(ics)

    read = icaljs(ics)

    assert read["method"] == "REQUEST"
    assert read["uid"] == str(event["UID"])
    assert read["sequence"] == 0
    assert read["status"] == "CONFIRMED"
    assert (read["dtstart"], read["tzid"]) == ("2031-01-07T09:00:00", "Europe/Berlin")
    assert read["start"] == epoch(TUESDAY)
    assert read["end"] == epoch(TUESDAY + timedelta(minutes=30))


def test_downloaded_invite_parses_with_both_parsers(
    container: Container, service: Service, client: TestClient
) -> None:
    response = client.post("/api/v1/bookings", json=booking_body(service, TUESDAY))
    assert response.status_code == 201, response.text
    token = response.json()["manage_url"].rpartition("/b/")[2]

    download = client.get(
        "/api/v1/booking/invite.ics", headers={"Authorization": f"Bearer {token}"}
    )

    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/calendar")
    assert "method=REQUEST" in download.headers["content-type"]
    calendar, event = parse(download.text)
    read = icaljs(download.text)
    assert calendar["METHOD"] == read["method"] == "REQUEST"
    assert read["uid"] == str(event["UID"])
    assert read["start"] == epoch(TUESDAY)


def test_summer_appointment_resolves_through_the_vtimezone_to_cest(
    container: Container, world: World, smtp: SmtpServer
) -> None:
    service = world.service(horizon_days=120)
    world.advisor([service])
    summer = datetime(2031, 4, 8, 9, 0, tzinfo=TUESDAY.tzinfo)  # a Tuesday, UTC+2
    book(container, service, summer)
    ics = ics_of(_delivered(container, smtp)[0].message)

    read = icaljs(ics)

    assert (read["dtstart"], read["tzid"]) == ("2031-04-08T09:00:00", "Europe/Berlin")
    assert read["start"] == epoch(datetime(2031, 4, 8, 7, 0, tzinfo=UTC))


# -- one event through the booking's life ------------------------------------------------------


def test_reschedule_keeps_the_uid_with_sequence_one_and_the_new_start(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    created, moved, _ = _life(container, service, smtp)
    _, first = parse(created)

    calendar, event = parse(moved)
    read = icaljs(moved)

    assert calendar["METHOD"] == read["method"] == "REQUEST"
    assert event["UID"] == first["UID"] == read["uid"]
    assert event["SEQUENCE"] == read["sequence"] == 1
    assert event.decoded("DTSTART") == THURSDAY
    assert read["dtstart"] == "2031-01-09T09:00:00"
    assert read["start"] == epoch(THURSDAY)


def test_cancellation_is_method_cancel_with_status_cancelled_and_a_higher_sequence(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    invites = _life(container, service, smtp)
    events = [parse(ics)[1] for ics in invites]

    calendar, event = parse(invites[-1])
    read = icaljs(invites[-1])

    assert calendar["METHOD"] == read["method"] == "CANCEL"
    assert event["STATUS"] == read["status"] == "CANCELLED"
    assert event["UID"] == events[0]["UID"] == read["uid"]
    assert [e["SEQUENCE"] for e in events] == [0, 1, 2]  # strictly increasing
    assert read["sequence"] == 2


def test_mime_method_matches_the_calendar_method(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    _life(container, service, smtp)
    to_citizen = _delivered(container, smtp)

    for received in to_citizen:
        part = calendar_part(received.message)
        method = parse(str(part.get_content()))[0]["METHOD"]
        assert part.get_param("method") == method
        assert method != "PUBLISH"
    assert [calendar_part(r.message).get_param("method") for r in to_citizen] == [
        "REQUEST",
        "REQUEST",
        "CANCEL",
    ]


# -- contents ------------------------------------------------------------------------------------


def test_times_use_the_berlin_tzid_and_a_vtimezone_in_rrule_form(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    ics = unfold(_confirmation_ics(container, service, smtp))
    lines = ics.split("\r\n")

    assert "DTSTART;TZID=Europe/Berlin:20310107T090000" in lines
    assert "DTEND;TZID=Europe/Berlin:20310107T093000" in lines
    assert "TZID:Europe/Berlin" in lines
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in lines
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in lines
    assert "RDATE" not in ics
    calendar, _ = parse(ics)
    [zone] = calendar.walk("VTIMEZONE")
    assert zone["TZID"] == "Europe/Berlin"
    assert sorted(c.name for c in zone.subcomponents) == ["DAYLIGHT", "STANDARD"]


def test_organizer_is_the_team_and_attendee_the_citizen(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    ics = _confirmation_ics(container, service, smtp)
    _, event = parse(ics)
    read = icaljs(ics)

    assert event["ORGANIZER"] == read["organizer"] == "mailto:wohngeld@example.org"
    assert event["ORGANIZER"].params["CN"] == "Wohngeldstelle"
    assert event["ATTENDEE"] == read["attendee"] == f"mailto:{CITIZEN}"
    assert event["ATTENDEE"].params["CN"] == "Erika Mustermann"


def test_invite_carries_an_alarm(container: Container, service: Service, smtp: SmtpServer) -> None:
    ics = _confirmation_ics(container, service, smtp)
    _, event = parse(ics)

    [alarm] = event.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY"
    assert alarm.decoded("TRIGGER") < timedelta(0)
    assert icaljs(ics)["alarms"] == 1


def _join_url(container: Container, booking: BookingInfo) -> str | None:
    return container.links.urls(booking).join


def test_video_invite_location_and_url_are_the_join_link(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    booking = book(container, service, TUESDAY)
    ics = ics_of(_delivered(container, smtp)[0].message)
    _, event = parse(ics)

    join = _join_url(container, booking)
    assert join is not None
    assert "/j/" in join
    assert event["LOCATION"] == event["URL"] == join
    assert icaljs(ics)["location"] == join


def test_in_person_invite_location_is_the_address(
    container: Container, world: World, smtp: SmtpServer
) -> None:
    service = world.service(channels=["in_person"], address=ADDRESS)
    world.advisor([service])
    book(container, service, TUESDAY, channel="in_person")
    ics = ics_of(_delivered(container, smtp)[0].message)
    _, event = parse(ics)

    assert event["LOCATION"] == ADDRESS
    assert "URL" not in event
    assert icaljs(ics)["location"] == ADDRESS


@pytest.mark.parametrize("channel", ["video", "phone"])
def test_invites_never_carry_the_manage_link_notes_or_phone(
    container: Container, service: Service, smtp: SmtpServer, client: TestClient, channel: str
) -> None:
    booking = book(container, service, TUESDAY, channel=channel, phone=PHONE, notes=NOTES)
    manage_token, _ = container.scheduler.links(booking)
    download = client.get(
        "/api/v1/booking/invite.ics", headers={"Authorization": f"Bearer {manage_token}"}
    ).text
    deliver_all(container)
    container.scheduler.reschedule(booking.reference, THURSDAY)
    deliver_all(container)
    container.scheduler.cancel(booking.reference)
    invites = [ics_of(r.message) for r in _delivered(container, smtp)]
    assert len(invites) == 3

    for ics in [*invites, download]:
        text = unfold(ics)
        assert "/b/" not in text
        assert manage_token not in text
        assert "Gebärdendolmetscherin" not in text
        assert "9876543" not in text.replace(" ", "")
        assert "DESCRIPTION" not in parse(ics)[1]
