"""`GET /api/v1/stats`: administrators only, the range checked, the figures of
scheduler/statistics.py in the contract's shape, and documented in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from scheduler.models import Role
from scheduler.requests import BookingRequest

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = {"start": "2031-01-06", "end": "2031-01-12"}


@pytest.fixture
def booked(container, world):
    service = world.service()
    world.advisor([service])
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=datetime(2031, 1, 7, 9, tzinfo=BERLIN),
            channel="video",
            name="Erika Mustermann",
            email="erika@example.org",
        )
    )
    assert placed.booking is not None
    return service


@pytest.mark.parametrize(
    ("role", "status"), [(Role.ADMIN, 200), (Role.ADVISOR, 403), (Role.HOTLINE, 403), (None, 401)]
)
def test_only_administrators_see_the_figures(client, world, booked, role, status):
    headers = {}
    if role is Role.ADMIN:
        headers = world.login(client)
    elif role is not None:
        staff = world.advisor([booked], role=role, hours=[])
        headers = world.login(client, staff.email)
    assert client.get("/api/v1/stats", params=WEEK, headers=headers).status_code == status


def test_the_figures_in_total_and_per_week_and_service(client, world, booked):
    headers = world.login(client)
    response = client.get("/api/v1/stats", params=WEEK, headers=headers)

    assert response.status_code == 200
    body = response.json()
    assert (body["start"], body["end"]) == ("2031-01-06", "2031-01-12")
    assert (body["bookings"], body["cancellations"], body["no_shows"]) == (1, 0, 0)
    assert body["waiting_days_median"] == pytest.approx(25 / 24)  # booked Monday 08:00
    assert (body["online_bookings"], body["hotline_bookings"]) == (1, 0)
    assert body["slots_offered"] == 4 * 12  # Epiphany is a holiday in Saxony-Anhalt
    assert body["utilisation"] == pytest.approx(1 / 48)
    assert body["callbacks"]["requests"] == 0
    assert body["waitlist"]["entries"] == 0
    [week] = body["weeks"]
    assert (week["week"], week["start"], week["bookings"]) == ("2031-W02", "2031-01-06", 1)
    assert [(s["service_id"], s["bookings"]) for s in week["services"]] == [(booked.id, 1)]

    one = client.get(
        "/api/v1/stats",
        params={**WEEK, "service_id": booked.id, "channel": "phone"},
        headers=headers,
    )
    assert one.status_code == 200, one.text
    one = one.json()
    assert one["bookings"] == 0
    assert one["weeks"][0]["services"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "2031-01-06", "end": "2031-01-05"}, "range_reversed"),
        ({"start": "2031-01-01", "end": "2032-01-02"}, "range_too_long"),
    ],
)
def test_the_range_is_checked(client, world, params, code):
    response = client.get("/api/v1/stats", params=params, headers=world.login(client))
    assert response.status_code == 422
    assert response.json()["code"] == code


def test_a_bad_date_or_channel_is_refused(client, world):
    headers = world.login(client)
    for params in ({"start": "2031-13-01", "end": "2031-12-31"}, {**WEEK, "channel": "fax"}):
        assert client.get("/api/v1/stats", params=params, headers=headers).status_code == 422


def test_the_endpoint_is_documented(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/stats"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "start",
        "end",
        "service_id",
        "team_id",
        "channel",
    }
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    figures = schema["components"]["schemas"]["StatsOut"]["properties"]
    assert {"bookings", "cancellations", "no_shows", "waiting_days_median", "weeks"} <= set(figures)
