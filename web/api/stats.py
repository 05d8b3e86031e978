"""The office's numbers for administrators: `GET /api/v1/stats`. Aggregates only; every
figure is `scheduler/statistics.py`'s, documented in docs/statistics.md."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from scheduler.models import Channel, Role
from scheduler.statistics import MAX_DAYS, StatsQuery, Week
from web.deps import Actor, Services
from web.schemas import IsoDate

router = APIRouter(prefix="/api/v1", tags=["statistics"])
QueryId = Annotated[int | None, Query(ge=1, le=2**62)]


class CancelledByOut(BaseModel):
    citizen: int
    staff: int
    office: int = Field(description="moved out of the way of an absence or a closure")
    unknown: int = Field(description="cancelled before who cancelled was recorded")


class CallbacksOut(BaseModel):
    requests: int
    attempted: int = Field(description="requests with at least one call")
    reached: int
    reach_rate: float | None = Field(description="reached / attempted")
    booked: int = Field(description="requests that became an appointment")
    booked_rate: float | None = Field(description="booked / requests")
    first_attempt_hours_mean: float | None = Field(description="request to first call, hours")


class WaitlistOut(BaseModel):
    entries: int
    offered: int = Field(description="entries that got at least one offer")
    offer_days_mean: float | None = Field(description="joining to the first offer, days")
    offers: int
    accepted: int
    acceptance_rate: float | None = Field(description="accepted / offers")


class FiguresOut(BaseModel):
    bookings: int = Field(description="appointments in the period, whatever their status")
    confirmed: int
    completed: int
    no_shows: int
    cancellations: int
    cancelled_by: CancelledByOut
    no_show_rate: float | None = Field(description="no_shows / (completed + no_shows)")
    online_bookings: int = Field(description="booked by the citizens themselves")
    hotline_bookings: int = Field(description="booked by staff")
    waiting_days_median: float | None = Field(description="from booking to appointment")
    waiting_days_p90: float | None
    slots_offered: int = Field(description="bookable starts of the weekly hours")
    slots_booked: int = Field(description="appointments not cancelled")
    utilisation: float | None = Field(description="slots_booked / slots_offered")
    searches: int = Field(description="citizens' searches for the next free time")
    searches_without_slot: int
    search_wait_days_median: float | None = Field(
        description="whole days from a search to the first free slot it showed"
    )
    callbacks: CallbacksOut
    waitlist: WaitlistOut


class ServiceWeekOut(FiguresOut):
    service_id: int


class WeekOut(FiguresOut):
    week: str = Field(description="ISO week, e.g. 2031-W02")
    start: date = Field(description="its Monday")
    services: list[ServiceWeekOut] = Field(description="per service; empty with service_id")


class StatsOut(FiguresOut):
    start: date
    end: date
    weeks: list[WeekOut]


def _week(week: Week) -> WeekOut:
    services = [
        ServiceWeekOut.model_validate({**figures, "service_id": service_id})
        for service_id, figures in sorted(week.services.items())
    ]
    return WeekOut.model_validate(
        {**week.figures, "week": week.label, "start": week.monday, "services": services}
    )


@router.get(
    "/stats",
    response_model=StatsOut,
    responses={
        401: {"description": "no or an invalid staff token"},
        403: {"description": "not an administrator"},
        422: {"description": f"end before start, or more than {MAX_DAYS} days"},
    },
)
def statistics(
    actor: Actor,
    services: Services,
    start: IsoDate,
    end: IsoDate,
    service_id: QueryId = None,
    team_id: QueryId = None,
    channel: Channel | None = None,
) -> StatsOut:
    """The office's figures over the local days `start` to `end` (both inclusive, at most
    366), in total and per ISO week; see docs/statistics.md for what each one counts."""
    actor.require(Role.ADMIN)
    query = StatsQuery(start, end, service_id, team_id, channel)
    report = services.statistics.report(query)
    return StatsOut.model_validate(
        {
            **report.totals,
            "start": start,
            "end": end,
            "weeks": [_week(w) for w in report.weeks],
        }
    )
