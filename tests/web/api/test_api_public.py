"""The citizens' part of the public HTTP contract (v1), through the in-process TestClient."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import func, select

from scheduler.models import Booking
from scheduler.tokens import Audience
from web.container import Container

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)  # the first working day after "now" (Monday 6 January is a holiday)

BodyFactory = Callable[..., dict[str, Any]]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def slots(client: TestClient, service_id: int, first: date, last: date, **params: str) -> Any:
    response = client.get(
        f"/api/v1/services/{service_id}/slots",
        params={"start": first.isoformat(), "end": last.isoformat(), **params},
    )
    assert response.status_code == 200, response.text
    return response.json()


def slot_starts(client: TestClient, service_id: int, first: date, last: date) -> list[str]:
    return [s["start"] for s in slots(client, service_id, first, last)["slots"]]


def book(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/api/v1/bookings", json=body, headers=headers)


def booked(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = book(client, body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def manage_token(booking: dict[str, Any]) -> str:
    return str(booking["manage_url"]).rsplit("/", 1)[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def booking_count(container: Container) -> int:
    with container.sessions() as session:
        return session.scalar(select(func.count()).select_from(Booking)) or 0


# -- services --------------------------------------------------------------------------------


def test_services_lists_id_name_duration_and_channels(client: TestClient, world) -> None:
    service = world.service(name="Wohngeld", duration_minutes=45, channels=["video", "in_person"])

    response = client.get("/api/v1/services")

    assert response.status_code == 200
    [entry] = response.json()
    assert entry["id"] == service.id
    assert entry["name"] == "Wohngeld"
    assert entry["duration_minutes"] == 45
    assert entry["channels"] == ["video", "in_person"]


# -- slots -----------------------------------------------------------------------------------


def test_slots_name_the_office_timezone(client: TestClient, world) -> None:
    service = world.service()
    world.advisor([service])

    assert slots(client, service.id, TUESDAY, TUESDAY)["timezone"] == "Europe/Berlin"


def test_slots_follow_the_weekly_hours_in_local_time_with_offset(client: TestClient, world) -> None:
    service = world.service()
    world.advisor([service])

    found = slots(client, service.id, TUESDAY, TUESDAY)["slots"]

    assert found[0] == {"start": "2031-01-07T09:00:00+01:00", "end": "2031-01-07T09:30:00+01:00"}
    assert found[-1] == {"start": "2031-01-07T15:30:00+01:00", "end": "2031-01-07T16:00:00+01:00"}
    assert "2031-01-07T12:00:00+01:00" not in [s["start"] for s in found]  # lunch break
    assert len(found) == 12


def test_slots_are_sorted(client: TestClient, world) -> None:
    service = world.service()
    world.advisor([service])

    starts = slot_starts(client, service.id, TUESDAY, TUESDAY + timedelta(days=3))

    moments = [datetime.fromisoformat(s) for s in starts]
    assert moments == sorted(moments)
    assert len(moments) == 4 * 12


def test_slots_list_each_start_once_when_two_advisors_are_free(client: TestClient, world) -> None:
    service = world.service()
    world.advisor([service])
    world.advisor([service])

    starts = slot_starts(client, service.id, TUESDAY, TUESDAY)

    assert len(starts) == 12
    assert len(set(starts)) == len(starts)


def test_slots_include_both_the_first_and_the_last_date(client: TestClient, world) -> None:
    service = world.service()
    world.advisor([service])

    starts = slot_starts(client, service.id, TUESDAY, TUESDAY + timedelta(days=1))

    days = {datetime.fromisoformat(s).date() for s in starts}
    assert days == {TUESDAY, TUESDAY + timedelta(days=1)}


def test_slots_can_be_filtered_by_an_offered_channel(client: TestClient, world) -> None:
    service = world.service(channels=["video", "phone"])
    world.advisor([service])

    found = slots(client, service.id, TUESDAY, TUESDAY, channel="phone")["slots"]

    assert len(found) == 12


def test_slots_for_a_channel_the_service_does_not_offer_are_refused(
    client: TestClient, world
) -> None:
    service = world.service(channels=["video"])
    world.advisor([service])

    response = client.get(
        f"/api/v1/services/{service.id}/slots",
        params={"start": TUESDAY.isoformat(), "end": TUESDAY.isoformat(), "channel": "in_person"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "channel_not_offered"


def test_slots_skip_new_years_day(client: TestClient, world, clock) -> None:
    clock.now = datetime(2030, 12, 27, 7, 0, tzinfo=UTC)  # a Friday
    service = world.service()
    world.advisor([service])

    starts = slot_starts(client, service.id, date(2030, 12, 31), date(2031, 1, 2))

    days = {datetime.fromisoformat(s).date() for s in starts}
    assert days == {date(2030, 12, 31), date(2031, 1, 2)}


def test_slots_skip_epiphany_a_holiday_in_saxony_anhalt(client: TestClient, world) -> None:
    # "now" is 08:00 on Monday 6 January: 09:00 would be bookable if the office were open.
    service = world.service()
    world.advisor([service])

    starts = slot_starts(client, service.id, date(2031, 1, 6), TUESDAY)

    assert {datetime.fromisoformat(s).date() for s in starts} == {TUESDAY}


def test_a_booked_slot_disappears_from_the_slots(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    booked(client, make_booking_body(service, at(TUESDAY, 9)))

    starts = slot_starts(client, service.id, TUESDAY, TUESDAY)

    assert "2031-01-07T09:00:00+01:00" not in starts
    assert "2031-01-07T09:30:00+01:00" in starts


def test_slots_keep_nine_oclock_local_across_the_change_to_summer_time(
    client: TestClient, world
) -> None:
    service = world.service(horizon_days=120)
    world.advisor([service])

    starts = slot_starts(client, service.id, date(2031, 3, 27), date(2031, 4, 1))

    first_of_day = {}
    for start in starts:
        first_of_day.setdefault(start[:10], start)
    assert first_of_day == {
        "2031-03-27": "2031-03-27T09:00:00+01:00",
        "2031-03-28": "2031-03-28T09:00:00+01:00",
        "2031-03-31": "2031-03-31T09:00:00+02:00",
        "2031-04-01": "2031-04-01T09:00:00+02:00",
    }


# -- booking ---------------------------------------------------------------------------------


def test_booking_returns_201_with_the_contract_fields(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])

    response = book(client, make_booking_body(service, at(TUESDAY, 9)))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["reference"]
    assert body["start"] == "2031-01-07T09:00:00+01:00"
    assert body["end"] == "2031-01-07T09:30:00+01:00"
    assert body["channel"] == "video"
    assert body["manage_url"].startswith("http://testserver/b/")
    assert manage_token(body)
    assert body["join_url"].startswith("http://testserver/j/")


def test_booking_a_taken_slot_is_409(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    booked(client, make_booking_body(service, at(TUESDAY, 9)))

    response = book(client, make_booking_body(service, at(TUESDAY, 9), email="max@example.org"))

    assert response.status_code == 409
    assert response.json()["code"] == "slot_unavailable"


def test_booking_in_the_past_is_422(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])

    response = book(client, make_booking_body(service, at(date(2031, 1, 3), 9)))

    assert response.status_code == 422
    assert response.json()["code"] == "outside_booking_window"


def test_booking_within_the_minimum_notice_is_422(
    client: TestClient, world, clock, make_booking_body: BodyFactory
) -> None:
    clock.now = datetime(2031, 1, 7, 7, 45, tzinfo=UTC)  # 08:45 in Berlin
    service = world.service(min_notice_minutes=60)
    world.advisor([service])

    response = book(client, make_booking_body(service, at(TUESDAY, 9)))

    assert response.status_code == 422
    assert response.json()["code"] == "outside_booking_window"


def test_booking_beyond_the_horizon_is_422(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service(horizon_days=60)
    world.advisor([service])

    response = book(client, make_booking_body(service, at(date(2031, 3, 10), 9)))

    assert response.status_code == 422
    assert response.json()["code"] == "outside_booking_window"


def test_booking_off_the_grid_is_422(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])

    response = book(client, make_booking_body(service, at(TUESDAY, 9, 10)))

    assert response.status_code == 422
    assert response.json()["code"] == "off_grid"


def test_booking_on_a_closed_day_is_422(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])

    response = book(client, make_booking_body(service, at(date(2031, 1, 6), 10)))

    assert response.status_code == 422
    assert response.json()["code"] == "closed_day"


def test_booking_a_channel_the_service_does_not_offer_is_422(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service(channels=["video"])
    world.advisor([service])

    response = book(client, make_booking_body(service, at(TUESDAY, 9), channel="phone"))

    assert response.status_code == 422
    assert response.json()["code"] == "channel_not_offered"


def test_the_least_loaded_advisor_gets_the_booking(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    first = world.advisor([service])
    second = world.advisor([service])
    staff = world.login(client)

    early = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    later = booked(client, make_booking_body(service, at(TUESDAY, 11), email="max@example.org"))

    def advisor_of(booking: dict[str, Any]) -> int:
        response = client.get(f"/api/v1/staff/bookings/{booking['reference']}", headers=staff)
        assert response.status_code == 200, response.text
        return int(response.json()["advisor_id"])

    assert advisor_of(early) == first.id  # a tie goes to the lowest id
    assert advisor_of(later) == second.id  # the first already has an appointment that day


def test_overlapping_bookings_of_two_services_on_one_advisor_cannot_both_succeed(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    half_hourly = world.service(name="Wohngeld")
    quarterly = world.service(name="Grundsicherung", slot_interval_minutes=15)
    world.advisor([half_hourly, quarterly])
    booked(client, make_booking_body(half_hourly, at(TUESDAY, 10)))

    response = book(
        client, make_booking_body(quarterly, at(TUESDAY, 10, 15), email="max@example.org")
    )

    assert response.status_code == 409
    starts = slot_starts(client, quarterly.id, TUESDAY, TUESDAY)
    assert "2031-01-07T09:45:00+01:00" not in starts
    assert "2031-01-07T10:15:00+01:00" not in starts
    assert "2031-01-07T10:30:00+01:00" in starts


def test_overlap_is_refused_whichever_service_is_booked_first(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    half_hourly = world.service(name="Wohngeld")
    quarterly = world.service(name="Grundsicherung", slot_interval_minutes=15)
    world.advisor([half_hourly, quarterly])
    booked(client, make_booking_body(quarterly, at(TUESDAY, 10, 15)))

    response = book(
        client, make_booking_body(half_hourly, at(TUESDAY, 10), email="max@example.org")
    )

    assert response.status_code == 409


# -- idempotency -----------------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_same_booking(
    client: TestClient, world, container: Container, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    body = make_booking_body(service, at(TUESDAY, 9))

    first = book(client, body, **{"Idempotency-Key": "order-4711"})
    second = book(client, body, **{"Idempotency-Key": "order-4711"})

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert booking_count(container) == 1


def test_same_idempotency_key_with_another_body_is_422(
    client: TestClient, world, container: Container, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    book(client, make_booking_body(service, at(TUESDAY, 9)), **{"Idempotency-Key": "order-4711"})

    response = book(
        client, make_booking_body(service, at(TUESDAY, 10)), **{"Idempotency-Key": "order-4711"}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert booking_count(container) == 1


# -- holds -----------------------------------------------------------------------------------


def hold(client: TestClient, service_id: int, start: datetime) -> dict[str, Any]:
    response = client.post(
        "/api/v1/holds",
        json={"service_id": service_id, "start": start.isoformat(), "channel": "video"},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_held_slot_disappears_from_the_slots(client: TestClient, world) -> None:
    service = world.service()
    world.advisor([service])

    hold(client, service.id, at(TUESDAY, 9))

    assert "2031-01-07T09:00:00+01:00" not in slot_starts(client, service.id, TUESDAY, TUESDAY)


def test_a_held_slot_cannot_be_booked_without_the_hold_token(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    hold(client, service.id, at(TUESDAY, 9))

    response = book(client, make_booking_body(service, at(TUESDAY, 9)))

    assert response.status_code == 409


def test_a_held_slot_can_be_booked_with_the_hold_token(
    client: TestClient, world, container: Container, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    held = hold(client, service.id, at(TUESDAY, 9))

    response = book(
        client, make_booking_body(service, at(TUESDAY, 9), hold_token=held["hold_token"])
    )

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "confirmed"
    assert booking_count(container) == 1


def test_an_expired_hold_lets_others_book_the_slot(
    client: TestClient, world, clock, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    hold(client, service.id, at(TUESDAY, 9))

    clock.advance(minutes=6)

    assert "2031-01-07T09:00:00+01:00" in slot_starts(client, service.id, TUESDAY, TUESDAY)
    assert book(client, make_booking_body(service, at(TUESDAY, 9))).status_code == 201


def test_a_released_hold_frees_the_slot(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    held = hold(client, service.id, at(TUESDAY, 9))

    response = client.delete(f"/api/v1/holds/{held['hold_token']}")

    assert response.status_code == 204
    assert "2031-01-07T09:00:00+01:00" in slot_starts(client, service.id, TUESDAY, TUESDAY)
    assert book(client, make_booking_body(service, at(TUESDAY, 9))).status_code == 201


# -- the cap on open bookings ----------------------------------------------------------------


def test_a_third_open_booking_with_the_same_email_and_service_is_409(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    booked(client, make_booking_body(service, at(TUESDAY, 9)))
    booked(client, make_booking_body(service, at(TUESDAY, 10)))

    response = book(client, make_booking_body(service, at(TUESDAY, 11), email="ERIKA@example.org"))

    assert response.status_code == 409
    assert response.json()["code"] == "too_many_open_bookings"


# -- the booking behind a magic link ---------------------------------------------------------


def test_get_booking_with_the_manage_token_includes_service_and_status(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service(name="Wohngeld")
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    response = client.get("/api/v1/booking", headers=bearer(manage_token(created)))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reference"] == created["reference"]
    assert body["status"] == "confirmed"
    assert body["service"] == {"id": service.id, "name": "Wohngeld"}
    assert body["start"] == "2031-01-07T09:00:00+01:00"


def test_get_booking_changes_nothing(
    client: TestClient, world, container: Container, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    def row() -> tuple[object, ...]:
        with container.sessions() as session:
            b = session.scalars(select(Booking)).one()
            return (b.status, b.sequence, b.token_version, b.updated_at, b.start_at)

    before = row()
    first = client.get("/api/v1/booking", headers=bearer(manage_token(created)))
    client.get("/api/v1/booking/invite.ics", headers=bearer(manage_token(created)))
    second = client.get("/api/v1/booking", headers=bearer(manage_token(created)))

    assert first.json() == second.json()
    assert row() == before


def invite(client: TestClient, token: str) -> Calendar:
    response = client.get("/api/v1/booking/invite.ics", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return Calendar.from_ical(response.content)


def test_invite_is_a_calendar_request_with_one_event_in_berlin_time(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    calendar = invite(client, manage_token(created))

    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("DTSTART") == at(TUESDAY, 9)


def test_invite_carries_neither_the_manage_link_nor_the_notes(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(
        client, make_booking_body(service, at(TUESDAY, 9), notes="Mietvertrag fehlt noch")
    )

    response = client.get("/api/v1/booking/invite.ics", headers=bearer(manage_token(created)))

    unfolded = response.content.decode().replace("\r\n ", "")
    assert "/b/" not in unfolded
    assert manage_token(created) not in unfolded
    assert "Mietvertrag" not in unfolded


def test_cancel_sets_status_cancelled(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    response = client.post("/api/v1/booking/cancel", headers=bearer(manage_token(created)))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"


def test_cancel_is_idempotent(client: TestClient, world, make_booking_body: BodyFactory) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    first = client.post("/api/v1/booking/cancel", headers=bearer(manage_token(created)))

    second = client.post("/api/v1/booking/cancel", headers=bearer(manage_token(created)))

    assert second.status_code == 200
    assert second.json() == first.json()


def test_cancel_frees_the_slot_at_once(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    client.post("/api/v1/booking/cancel", headers=bearer(manage_token(created)))

    assert "2031-01-07T09:00:00+01:00" in slot_starts(client, service.id, TUESDAY, TUESDAY)
    again = book(client, make_booking_body(service, at(TUESDAY, 9), email="max@example.org"))
    assert again.status_code == 201


def test_invite_of_a_cancelled_booking_is_a_cancel(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    client.post("/api/v1/booking/cancel", headers=bearer(manage_token(created)))

    calendar = invite(client, manage_token(created))

    assert calendar["METHOD"] == "CANCEL"


def reschedule(client: TestClient, booking: dict[str, Any], start: datetime) -> Any:
    return client.post(
        "/api/v1/booking/reschedule",
        json={"start": start.isoformat()},
        headers=bearer(manage_token(booking)),
    )


def test_reschedule_moves_the_booking_and_frees_the_old_slot(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    response = reschedule(client, created, at(TUESDAY, 14))

    assert response.status_code == 200, response.text
    assert response.json()["start"] == "2031-01-07T14:00:00+01:00"
    assert response.json()["reference"] == created["reference"]
    starts = slot_starts(client, service.id, TUESDAY, TUESDAY)
    assert "2031-01-07T09:00:00+01:00" in starts
    assert "2031-01-07T14:00:00+01:00" not in starts


def test_reschedule_onto_a_taken_slot_is_409_and_keeps_the_old_time(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    booked(client, make_booking_body(service, at(TUESDAY, 10), email="max@example.org"))

    response = reschedule(client, created, at(TUESDAY, 10))

    assert response.status_code == 409
    current = client.get("/api/v1/booking", headers=bearer(manage_token(created)))
    assert current.json()["start"] == "2031-01-07T09:00:00+01:00"


def test_reschedule_of_a_cancelled_booking_is_409(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    client.post("/api/v1/booking/cancel", headers=bearer(manage_token(created)))

    response = reschedule(client, created, at(TUESDAY, 10))

    assert response.status_code == 409
    assert response.json()["code"] == "booking_cancelled"


def test_reschedule_into_a_range_overlapping_its_own_old_time_works(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service(duration_minutes=60, slot_interval_minutes=30)
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    response = reschedule(client, created, at(TUESDAY, 9, 30))

    assert response.status_code == 200, response.text
    assert response.json()["start"] == "2031-01-07T09:30:00+01:00"
    assert response.json()["end"] == "2031-01-07T10:30:00+01:00"


# -- tokens ----------------------------------------------------------------------------------


def test_booking_without_authorization_header_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/booking")

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_booking_with_a_tampered_token_is_401(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    token = manage_token(booked(client, make_booking_body(service, at(TUESDAY, 9))))
    header, payload, signature = token.split(".")
    flipped = "A" if signature[10] != "A" else "B"
    tampered = f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}"

    response = client.get("/api/v1/booking", headers=bearer(tampered))

    assert response.status_code == 401


def test_booking_with_the_join_token_is_401(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    join_token = created["join_url"].rsplit("/", 1)[1]

    response = client.get("/api/v1/booking", headers=bearer(join_token))

    assert response.status_code == 401


def test_booking_with_a_staff_access_token_is_401(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    booked(client, make_booking_body(service, at(TUESDAY, 9)))

    response = client.get("/api/v1/booking", headers=world.login(client))

    assert response.status_code == 401


def test_booking_with_an_expired_token_is_401(
    client: TestClient, world, clock, container: Container, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    expired = container.tokens.issue(
        Audience.MANAGE,
        created["reference"],
        1,
        clock.now - timedelta(days=10),
        timedelta(days=1),
    )

    response = client.get("/api/v1/booking", headers=bearer(expired))

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_a_manage_link_expires_with_its_lifetime(
    client: TestClient, world, clock, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    clock.advance(days=181)

    response = client.get("/api/v1/booking", headers=bearer(manage_token(created)))
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_reissued_link_revokes_the_old_token_and_the_new_one_works(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    staff = world.login(client)

    reissued = client.post(
        f"/api/v1/staff/bookings/{created['reference']}/reissue-link", headers=staff
    )

    assert reissued.status_code == 200, reissued.text
    old = client.get("/api/v1/booking", headers=bearer(manage_token(created)))
    assert old.status_code == 401
    new = client.get("/api/v1/booking", headers=bearer(manage_token(reissued.json())))
    assert new.status_code == 200
    assert new.json()["reference"] == created["reference"]


def test_a_revoked_token_cannot_cancel(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    client.post(
        f"/api/v1/staff/bookings/{created['reference']}/reissue-link", headers=world.login(client)
    )

    response = client.post("/api/v1/booking/cancel", headers=bearer(manage_token(created)))

    assert response.status_code == 401
    staff = client.get(
        f"/api/v1/staff/bookings/{created['reference']}", headers=world.login(client)
    )
    assert staff.json()["status"] == "confirmed"
