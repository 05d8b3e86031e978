"""Calendar invites (RFC 5545 iCalendar, RFC 5546 iTIP) with `icalendar`.

One VEVENT per booking: its UID stays for the booking's whole life and SEQUENCE rises with
every change (RFC 5546 §2.1.4), so calendar programs update the event instead of adding one.
The invite carries the join link, which only leads to the waiting room, but never the manage
link, the citizen's notes or needs: calendars are often shared with colleagues or family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard

from scheduler.models import Channel
from scheduler.views import BookingInfo

PRODID = "-//Sprechstunde//Terminbuchung//DE"


@dataclass(frozen=True, slots=True)
class Invite:
    method: str
    content: bytes


@lru_cache(maxsize=8)
def _berlin_vtimezone(tzid: str) -> Timezone:
    """The zone in the RRULE form: Outlook ignores the RDATE-list form for Europe/Berlin.

    Built once per zone and shared by every calendar: serialising never changes it."""
    zone = Timezone(tzid=tzid)
    for part, start, month, before, after, name in (
        (TimezoneStandard, datetime(1970, 10, 25, 3), 10, 2, 1, "CET"),
        (TimezoneDaylight, datetime(1970, 3, 29, 2), 3, 1, 2, "CEST"),
    ):
        sub = part()
        sub.add("dtstart", start)
        sub.add("rrule", {"freq": "yearly", "bymonth": month, "byday": "-1su"})
        sub.add("tzoffsetfrom", timedelta(hours=before))
        sub.add("tzoffsetto", timedelta(hours=after))
        sub.add("tzname", name)
        zone.add_component(sub)
    return zone


def booking_invite(
    booking: BookingInfo,
    *,
    tz: ZoneInfo,
    base_url: str,
    organizer: str,
    join_url: str | None,
    now: datetime | None = None,
) -> Invite:
    """METHOD:REQUEST for a live booking, METHOD:CANCEL with STATUS:CANCELLED otherwise
    (RFC 5546 §3.2.2, §3.2.5); SEQUENCE rises with each, the cancellation included."""
    cancelled = booking.status == "cancelled"
    method = "CANCEL" if cancelled else "REQUEST"
    calendar = _calendar(tz, method=method)
    event = _event(booking, tz, base_url, join_url, now)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    name, address = parseaddr(organizer)
    event.add("organizer", f"mailto:{address}", parameters={"CN": name} if name else {})
    if booking.email:
        event.add(
            "attendee",
            f"mailto:{booking.email}",
            parameters={"CN": booking.name, "ROLE": "REQ-PARTICIPANT", "RSVP": "FALSE"},
        )
    if not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", booking.service_name)
        alarm.add("trigger", timedelta(minutes=-30))
        event.add_component(alarm)
    calendar.add_component(event)
    return Invite(method=method, content=calendar.to_ical())


def advisor_feed(
    bookings: Sequence[tuple[BookingInfo, str | None]],
    *,
    tz: ZoneInfo,
    base_url: str,
    name: str,
    now: datetime | None = None,
) -> bytes:
    """An advisor's subscription feed: their appointments with what they need to hold them
    (reference, service, channel, the staff-side room link) and nothing of the citizen (no
    name, e-mail, phone, notes or join link): the feed's secret address may end up in a shared
    calendar."""
    calendar = _calendar(tz, method=None)
    calendar.add("x-wr-calname", name)
    calendar.add("x-published-ttl", "PT15M")
    for booking, join_url in bookings:
        event = _event(booking, tz, base_url, join_url, now)
        event.add("status", "CONFIRMED")
        event.add("description", f"{booking.reference} · {booking.channel}")
        calendar.add_component(event)
    return calendar.to_ical()


def organizer(booking: BookingInfo, fallback: str) -> str:
    """The team's address as ORGANIZER, else the sender of our mail."""
    if booking.team_email:
        return f"{booking.team_name or ''} <{booking.team_email}>".strip()
    return fallback


def _calendar(tz: ZoneInfo, method: str | None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    if method:
        calendar.add("method", method)
    calendar.add_component(_berlin_vtimezone(str(tz)))
    return calendar


def _event(
    booking: BookingInfo,
    tz: ZoneInfo,
    base_url: str,
    join_url: str | None,
    now: datetime | None,
) -> Event:
    event = Event()
    # The UID stays for the booking's whole life (RFC 5545 §3.8.4.7): updates replace the event.
    event.add("uid", f"booking-{booking.reference}@{urlsplit(base_url).hostname or 'localhost'}")
    event.add("sequence", booking.sequence)
    event.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", booking.start.astimezone(tz))
    event.add("dtend", booking.end.astimezone(tz))
    event.add("summary", f"{booking.service_name} ({booking.reference})")
    if join_url:
        event.add("location", join_url)
        event.add("url", join_url)
    elif booking.address and booking.channel == Channel.IN_PERSON:
        # The service's office, only where the citizen comes to it: not for a phone call.
        event.add("location", booking.address)
    return event
