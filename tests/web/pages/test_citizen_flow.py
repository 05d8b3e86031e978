"""The citizen's booking pages without JavaScript: start -> channel -> time -> details ->
confirmation, in German and English, through the in-process TestClient.

The helpers at the top read pages the way a browser without JavaScript would: links and form
fields; the other page test modules import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from scheduler.models import Booking
from web.container import Container

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)  # the first working day after the tests' "now" (6 January: holiday)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


@dataclass
class Page:
    """What a browser without JavaScript can use on a page."""

    status: int
    html: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, text)
    inputs: dict[str, str] = field(default_factory=dict)  # the last value of each name
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)  # by element id
    texts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def link(self, text: str) -> str:
        return next(href for href, label in self.links if text in label)

    def hrefs(self, prefix: str) -> list[str]:
        return [href for href, _ in self.links if href.startswith(prefix)]


class _Reader(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self._link: tuple[str, list[str]] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "id" in values:
            self.page.attributes[values["id"]] = values | {"tag": tag}
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "a" and "href" in values:
            self._link = (values["href"], [])
        if tag == "input" and "name" in values:
            kind = values.get("type", "text")
            if kind not in ("checkbox", "radio") or "checked" in values:
                self.page.inputs[values["name"]] = values.get("value", "")
        if tag == "option" and "selected" in values:
            self.page.inputs[f"option:{values.get('value', '')}"] = "selected"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        if tag == "a" and self._link is not None:
            href, parts = self._link
            self.page.links.append((href, " ".join("".join(parts).split())))
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.page.texts.append(data)
        if self._link is not None:
            self._link[1].append(data)


def read(response: Any) -> Page:
    page = Page(response.status_code, response.text)
    _Reader(page).feed(response.text)
    return page


def open_page(client: TestClient, path: str, **params: str) -> Page:
    return read(client.get(unescape(path), params=params or None))


def details_values(page: Page, **fields: str) -> dict[str, str]:
    """The hidden fields of the details form with the person's entries."""
    values = {
        k: page.inputs[k]
        for k in ("csrf_token", "kanal", "start", "hold", "vorgang")
        if k in page.inputs
    }
    entries = {
        "name": "Erika Mustermann",
        "email": "erika@example.org",
        "language": "de",
        "consent": "1",
    }
    return values | entries | fields


def submit_details(client: TestClient, form_page: Page, path: str, **fields: str) -> Any:
    return client.post(path, data=details_values(form_page, **fields), follow_redirects=False)


def hold_slot(client: TestClient, form_page: Page, service_id: int) -> Page:
    """Press "Keep this time for me" on the details page: the page again, with a hold."""
    data = {k: form_page.inputs[k] for k in ("csrf_token", "kanal", "start")}
    return read(client.post(f"/buchen/{service_id}/halten", data=data))


def bookings(container: Container) -> list[Booking]:
    with container.sessions() as session:
        return list(session.scalars(select(Booking).order_by(Booking.id)))


def make_service(world: Any, **overrides: Any) -> Any:
    spec = {
        "name": "Wohngeld: Erstberatung",
        "channels": ["video", "phone", "in_person"],
        "description": "Ob Ihnen Wohngeld zusteht.",
        "address": "Rathaus, Alter Markt 6",
    }
    service = world.service(**(spec | overrides))
    world.advisor([service])
    return service


def book_through_pages(
    client: TestClient, service_id: int, channel: str = "video", **fields: str
) -> Page:
    """The whole flow from the time list on; answers the confirmation page."""
    time_page = open_page(client, f"/buchen/{service_id}/zeit", kanal=channel)
    form = open_page(client, time_page.hrefs(f"/buchen/{service_id}/angaben")[0])
    assert form.status == 200, form.text
    answer = submit_details(client, form, f"/buchen/{service_id}/angaben", **fields)
    assert answer.status_code == 303, answer.text
    return open_page(client, answer.headers["location"])


# -- the flow ----------------------------------------------------------------------------------


def test_the_whole_flow_in_german_books_and_confirms(client, world, container):
    service = make_service(world)

    start = open_page(client, "/")
    assert start.status == 200
    assert "Termin vereinbaren" in start.text
    channel_page = open_page(client, start.link("Auswählen"))
    assert "Schritt 1 von 4" in channel_page.text
    assert channel_page.attributes["channel-video"]["type"] == "radio"
    # The channel form is a GET form: choosing a radio button and sending it is this request.
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    assert "Schritt 2 von 4" in time_page.text
    assert "Dienstag, 7. Januar 2031" in time_page.text
    first = time_page.hrefs(f"/buchen/{service.id}/angaben")[0]
    form = open_page(client, first)
    assert "Schritt 3 von 4" in form.text
    assert "Dienstag, 7. Januar 2031" in form.text
    assert "09:00 bis 09:30 Uhr" in form.text
    answer = submit_details(client, form, f"/buchen/{service.id}/angaben")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/termin/bestaetigt"
    assert "booking_link=" in answer.headers["set-cookie"]
    confirmation = open_page(client, "/termin/bestaetigt")
    [booking] = bookings(container)
    assert booking.status == "confirmed"
    assert booking.start_at == at(TUESDAY, 9).astimezone(UTC)
    assert booking.language == "de"
    assert "Schritt 4 von 4" in confirmation.text
    assert booking.reference in confirmation.text
    assert "Dienstag, 7. Januar 2031" in confirmation.text
    assert "/termin/kalender.ics" in confirmation.hrefs("/termin/kalender.ics")
    assert "/verbindungstest" in confirmation.hrefs("/verbindungstest")


def test_the_whole_flow_in_english_books_in_english(client, world, container):
    service = make_service(world, name_en="Housing benefit: first consultation")
    client.get("/?lang=en")

    start = open_page(client, "/")
    assert "Book an appointment" in start.text
    assert "Housing benefit: first consultation" in start.text
    channel_page = open_page(client, start.link("Choose"))
    assert "Step 1 of 4" in channel_page.text
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="phone")
    assert "Tuesday, 7 January 2031" in time_page.text
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])
    assert form.inputs["option:en"] == "selected"  # the consultation in the page's language
    answer = submit_details(
        client, form, f"/buchen/{service.id}/angaben", language="en", phone="0391 123456"
    )
    confirmation = open_page(client, answer.headers["location"])

    [booking] = bookings(container)
    assert booking.language == "en"
    assert booking.channel == "phone"
    assert "Your appointment is booked" in confirmation.text
    assert "We call you at 0391 123456" in confirmation.text


def test_the_channel_step_is_skipped_when_a_service_has_one_channel(client, world):
    service = make_service(world, channels=["video"])

    answer = client.get(f"/buchen/{service.id}", follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/buchen/{service.id}/zeit?kanal=video"


def test_the_time_list_without_a_channel_goes_back_to_the_channel_choice(client, world):
    service = make_service(world)

    answer = client.get(f"/buchen/{service.id}/zeit", follow_redirects=False)

    assert answer.headers["location"] == f"/buchen/{service.id}"


def test_opening_the_details_form_holds_nothing(client, world, container):
    service = make_service(world)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    slot = time_page.hrefs(f"/buchen/{service.id}/angaben")[0]
    client.cookies.clear()  # a link preview or a crawler: no cookies, no CSRF token

    form = open_page(client, slot)

    assert form.status == 200
    assert bookings(container) == []
    assert "hold" not in form.inputs
    assert "Bis Sie das Formular absenden, kann jemand anderes diese Uhrzeit buchen" in form.text
    assert 'value="Uhrzeit für mich freihalten"' in form.html


def test_a_hold_needs_the_csrf_token(client, world, container):
    service = make_service(world)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])
    data = {k: form.inputs[k] for k in ("kanal", "start")}

    answer = client.post(f"/buchen/{service.id}/halten", data=data)

    assert answer.status_code == 403
    assert bookings(container) == []


def test_a_booking_without_a_hold_goes_through(client, world, container):
    service = make_service(world)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])

    answer = submit_details(client, form, f"/buchen/{service.id}/angaben")

    assert answer.status_code == 303
    assert [b.status for b in bookings(container)] == ["confirmed"]


def test_the_details_form_keeps_the_slot_for_five_minutes(client, world, container):
    service = make_service(world)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])
    form = hold_slot(client, form, service.id)

    [hold] = bookings(container)
    assert hold.status == "held"
    assert form.inputs["hold"]
    assert "5 Minuten für Sie frei, bis 08:05 Uhr" in form.text
    taken = client.post(
        "/api/v1/bookings",
        json={
            "service_id": service.id,
            "start": at(TUESDAY, 9).isoformat(),
            "channel": "video",
            "name": "Max Muster",
            "email": "max@example.org",
        },
    )
    assert taken.status_code == 409


def test_holding_again_gives_the_own_hold_back(client, world, container):
    service = make_service(world)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])

    hold_slot(client, form, service.id)
    again = hold_slot(client, form, service.id)  # e.g. the browser sends the form again

    assert again.status == 200
    assert [b.status for b in bookings(container)] == ["held"]
    answer = submit_details(client, again, f"/buchen/{service.id}/angaben")
    assert answer.status_code == 303


def test_someone_elses_hold_sends_the_second_person_back_to_the_times(
    client, world, app, container
):
    service = make_service(world)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    slot = time_page.hrefs(f"/buchen/{service.id}/angaben")[0]
    hold_slot(client, open_page(client, slot), service.id)

    # A second browser: another client of the same running app (its lifespan runs once, in
    # the `client` fixture), without the first one's cookies.
    other = TestClient(app)
    try:
        second = open_page(other, slot)
    finally:
        other.close()

    assert second.status == 409
    assert "Dieser Termin wurde gerade von jemand anderem gebucht." in second.text
    assert "Uhrzeit wählen" in second.text
    assert slot not in second.hrefs("/buchen/")


def test_a_slot_taken_while_typing_leads_back_to_the_times(client, world, clock, container):
    service = make_service(world)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])
    clock.advance(minutes=6)  # the hold has run out, and someone else books the time
    taken = client.post(
        "/api/v1/bookings",
        json={
            "service_id": service.id,
            "start": at(TUESDAY, 9).isoformat(),
            "channel": "video",
            "name": "Max Muster",
            "email": "max@example.org",
        },
    )
    assert taken.status_code == 201

    answer = read(submit_details(client, form, f"/buchen/{service.id}/angaben"))

    assert answer.status == 409
    assert "Dieser Termin wurde gerade von jemand anderem gebucht." in answer.text
    assert answer.attributes["week"]["tag"] == "h2"
    assert len([b for b in bookings(container) if b.status == "confirmed"]) == 1


def test_the_needs_are_stored_with_the_booking(client, world, container):
    service = make_service(world)

    book_through_pages(
        client,
        service.id,
        "in_person",
        interpreter_language="Arabisch",
        sign_language="1",
        wheelchair_access="1",
        notes="Es geht um den Weiterbewilligungsantrag.",
    )

    [booking] = bookings(container)
    assert booking.interpreter_language == "Arabisch"
    assert booking.sign_language is True
    assert booking.wheelchair_access is True
    assert booking.notes == "Es geht um den Weiterbewilligungsantrag."
    appointment = open_page(client, "/termin")
    assert "Dolmetscher*in: Arabisch" in appointment.text
    assert "Stufenloser Zugang (Rollstuhl)" in appointment.text


def test_wheelchair_access_is_asked_only_for_a_visit_and_refused_for_another(
    client, world, container
):
    service = make_service(world)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[0])
    assert "field-wheelchair" not in form.attributes

    answer = read(
        submit_details(client, form, f"/buchen/{service.id}/angaben", wheelchair_access="1")
    )

    assert answer.status == 422
    assert answer.hrefs("#field-") == ["#field-wheelchair"]
    assert "Einen stufenlosen Zugang gibt es nur bei einem Termin vor Ort." in answer.text
    assert [b.status for b in bookings(container)] == []  # nothing booked (the page held nothing)


def test_too_many_open_appointments_are_explained_at_the_email_field(client, world, container):
    service = make_service(world)
    book_through_pages(client, service.id)
    book_through_pages(client, service.id)
    time_page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    form = open_page(client, time_page.hrefs(f"/buchen/{service.id}/angaben")[-1])

    answer = read(submit_details(client, form, f"/buchen/{service.id}/angaben"))

    assert answer.status == 422
    assert "schon 2 offene Termine" in answer.text
    assert answer.attributes["field-email"]["aria-invalid"] == "true"
