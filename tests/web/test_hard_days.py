"""A booking made on each hard day of tests/office_clock.py, through the API, on an office clock
set to that day: its first free time, its reminders, its room's window and its erasure all
fall where the calendar of Saxony-Anhalt and the time zone put them.

Hours are Monday to Friday, 09:00-12:00 and 13:00-16:00 local time, with an hour's notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.db import read_session
from scheduler.models import Booking
from tests.office_clock import HARD_DAYS

BERLIN = ZoneInfo("Europe/Berlin")

# The first free time after each hard day, by the calendar (offsets included).
FIRST_FREE = {
    # Friday 17:45: the weekend, then Monday.
    "friday-evening-before-christmas": "2026-12-21T09:00:00+01:00",
    # 11:00 with an hour's notice is 12:00, the lunch break: 13:00 the same day.
    "new-years-eve": "2026-12-31T13:00:00+01:00",
    # 07:55 with an hour's notice: the day's first time is still free.
    "monday-after-new-years-day": "2027-01-04T09:00:00+01:00",
    # Easter Sunday (the switch to summer time) and Easter Monday are closed.
    "saturday-before-summer-time": "2027-03-30T09:00:00+02:00",
    # Sunday is Reformation Day and the switch back; Monday 1 November is open.
    "saturday-before-winter-time": "2027-11-01T09:00:00+01:00",
}


@pytest.mark.parametrize("day", list(HARD_DAYS))
def test_a_booking_made_on_a_hard_day(client, world, clock, container, day):
    clock.now = datetime.fromisoformat(HARD_DAYS[day]).astimezone(UTC)
    service = world.service(name="Wohngeld", min_notice_minutes=60)
    world.advisor([service])
    today = clock.now.astimezone(BERLIN).date()

    found = client.get(
        f"/api/v1/services/{service.id}/slots",
        params={"start": str(today), "end": str(today + timedelta(days=13))},
    ).json()["slots"]

    assert found[0]["start"] == FIRST_FREE[day]
    start = datetime.fromisoformat(found[0]["start"])
    response = client.post(
        "/api/v1/bookings",
        json={
            "service_id": service.id,
            "start": found[0]["start"],
            "channel": "video",
            "name": "Erika Mustermann",
            "email": "erika@example.org",
        },
    )
    assert response.status_code == 201, response.text
    booking = response.json()

    # Reminders a day and an hour before, in real hours (a daylight-saving night has 23 or 25).
    with read_session(container.sessions) as session:
        due = session.scalars(
            select(OutboxMessage.not_before)
            .where(OutboxMessage.kind == "reminder")
            .order_by(OutboxMessage.not_before)
        ).all()
    wanted = [start - timedelta(hours=24), start - timedelta(hours=1)]
    assert due == [at for at in wanted if at > clock.now]

    # The room opens 15 minutes before the start.
    join = {"Authorization": f"Bearer {booking['join_url'].rsplit('/', 1)[1]}"}
    clock.now = start - timedelta(minutes=15, seconds=1)
    early = client.post("/api/v1/room-tickets", headers=join, json={})
    assert early.status_code == 409
    assert early.json()["code"] == "room_not_open"
    clock.now = start - timedelta(minutes=15)
    assert client.post("/api/v1/room-tickets", headers=join, json={}).status_code == 201

    # The personal data go 90 days after the end, not a second before.
    end = datetime.fromisoformat(booking["end"])
    clock.now = end + timedelta(days=90) - timedelta(seconds=1)
    container.retention.purge()
    assert stored_email(container, booking["reference"]) == "erika@example.org"
    clock.now = end + timedelta(days=90, seconds=1)
    container.retention.purge()
    assert stored_email(container, booking["reference"]) is None


def stored_email(container, reference: str) -> str | None:
    with read_session(container.sessions) as session:
        return session.scalar(select(Booking.email).where(Booking.reference == reference))
