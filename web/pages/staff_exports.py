"""Pages: the appointments of a day or of a team as a CSV file for the office's other systems
(scheduler/appointment_export.py). Administrators and the hotline export every appointment,
an advisor the day of their own; the team export is for the office, not for advisors."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from scheduler.appointment_export import MAX_DAYS, AppointmentExport, Exported
from scheduler.models import Role
from web.deps import Services
from web.pages.session import StaffPage
from web.pages.staff_common import MAX_ID, render, today

router = APIRouter(include_in_schema=False)

PATH = "/staff/export"
Names = Annotated[Literal["ja", "nein"], Query()]


def _exporter(services: Services) -> AppointmentExport:
    scheduler = services.scheduler
    return AppointmentExport(services.sessions, scheduler.clock, scheduler.tz)


@router.get(PATH)
def export_form(request: Request, staff: StaffPage, services: Services) -> HTMLResponse:
    staff.require(Role.ADMIN, Role.HOTLINE, Role.ADVISOR)
    office = staff.role in (Role.ADMIN, Role.HOTLINE)
    return render(
        request,
        staff,
        "staff/export.html",
        section=PATH,
        day=today(request),
        teams=services.catalogue.teams() if office else [],
        office=office,
        max_days=MAX_DAYS,
    )


@router.get(PATH + "/tag.csv")
def export_day(
    staff: StaffPage,
    services: Services,
    tag: Annotated[date, Query()],
    namen: Names = "nein",
) -> Response:
    return _download(_exporter(services).day(staff, tag, personal=namen == "ja"))


@router.get(PATH + "/team.csv")
def export_team(
    staff: StaffPage,
    services: Services,
    team: Annotated[int, Query(ge=1, le=MAX_ID)],
    von: Annotated[date, Query()],
    bis: Annotated[date, Query()],
    namen: Names = "nein",
) -> Response:
    exported = _exporter(services).team(staff, team, von, bis, personal=namen == "ja")
    return _download(exported)


def _download(exported: Exported) -> Response:
    return Response(
        exported.content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            "Cache-Control": "no-store",
        },
    )
