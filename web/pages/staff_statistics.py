"""Pages: the office's figures for administrators and team leads, as charts with their tables
(web/pages/statistics_tables.py, statistics_charts.py) and each table as CSV. The same figures
as `GET /api/v1/stats`; a team lead sees their own team's services only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from scheduler.accounts import StaffIdentity
from scheduler.errors import InvalidRequest, NotFound
from scheduler.models import Channel, Role, Service
from scheduler.statistics import MAX_DAYS, Report, StatsQuery
from web.deps import container, pages
from web.pages.rendering import date_locale
from web.pages.session import StaffPage
from web.pages.staff_common import FormErrors, parse_id, render, require_section, today
from web.pages.statistics_charts import bar_chart
from web.pages.statistics_tables import BY_KEY, TABLES, Kind, Row, Table, csv_bytes, rows

router = APIRouter(include_in_schema=False)
SECTION = "/staff/statistik"
WEEKS = 12  # shown when no period is chosen: the last twelve whole weeks
Raw = Annotated[str, Query(max_length=40)]


@dataclass(frozen=True, slots=True)
class Filters:
    start: date
    end: date
    service_id: int | None
    channel: str | None
    team_id: int | None

    def query_string(self) -> str:
        parts = {"von": self.start.isoformat(), "bis": self.end.isoformat()}
        if self.service_id is not None:
            parts["anliegen"] = str(self.service_id)
        if self.channel is not None:
            parts["kanal"] = self.channel
        if self.team_id is not None:
            parts["team"] = str(self.team_id)
        return "&".join(f"{k}={v}" for k, v in parts.items())


@router.get("/staff/statistik")
def dashboard(
    request: Request,
    staff: StaffPage,
    von: Raw = "",
    bis: Raw = "",
    anliegen: Raw = "",
    kanal: Raw = "",
    team: Raw = "",
) -> HTMLResponse:
    require_section(staff, SECTION)
    errors = FormErrors()
    choices = _services(request, staff)
    filters = _filters(request, staff, choices, errors, von, bis, anliegen, kanal, team)
    values = {"von": von, "bis": bis, "anliegen": anliegen, "kanal": kanal, "team": team}
    if filters is None:
        return _page(request, staff, choices, errors, values, None, None, status=422)
    report = container(request).statistics.report(_query(staff, filters))
    values = {"von": filters.start.isoformat(), "bis": filters.end.isoformat()} | {
        "anliegen": anliegen,
        "kanal": kanal,
        "team": team,
    }
    return _page(request, staff, choices, errors, values, filters, report)


@router.get("/staff/statistik/{table}.csv")
def download(
    request: Request,
    staff: StaffPage,
    table: Annotated[str, Path(max_length=40)],
    von: Raw = "",
    bis: Raw = "",
    anliegen: Raw = "",
    kanal: Raw = "",
    team: Raw = "",
) -> Response:
    require_section(staff, SECTION)
    chosen = BY_KEY.get(table)
    if chosen is None:
        raise NotFound("no such table", field="table")
    errors = FormErrors()
    choices = _services(request, staff)
    filters = _filters(request, staff, choices, errors, von, bis, anliegen, kanal, team)
    if filters is None:
        field, text = next(iter(errors.fields.items()))
        raise InvalidRequest(text, field=field)
    report = container(request).statistics.report(_query(staff, filters))
    gettext = pages(request).translations(request).gettext
    language = pages(request).language(request)
    table_rows = rows(chosen, report, gettext("Whole period"))
    content = csv_bytes(chosen, table_rows, gettext, lambda v, k: _number(language, v, k))
    name = f"statistik-{chosen.key}-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _services(request: Request, staff: StaffIdentity) -> list[Service]:
    """The services whose figures the person may see: all for administrators, their team's
    for a team lead."""
    statistics = container(request).statistics
    return statistics.services(None if staff.role == Role.ADMIN else staff.team_id)


def _filters(
    request: Request,
    staff: StaffIdentity,
    choices: list[Service],
    errors: FormErrors,
    von: str,
    bis: str,
    anliegen: str,
    kanal: str,
    team: str,
) -> Filters | None:
    gettext = pages(request).translations(request).gettext
    last_sunday = today(request) - timedelta(days=today(request).weekday() + 1)
    start = _day(von, last_sunday - timedelta(days=7 * WEEKS - 1), "von", errors, gettext)
    end = _day(bis, last_sunday, "bis", errors, gettext)
    if start is not None and end is not None:
        if end < start:
            errors.add("bis", gettext("The end lies before the start."))
        elif (end - start).days + 1 > MAX_DAYS:
            errors.add("bis", gettext("At most %(days)s days.") % {"days": MAX_DAYS})
    service_id = parse_id(anliegen) if anliegen else None
    if anliegen and service_id not in {s.id for s in choices}:
        errors.add("anliegen", gettext("Please choose one of the options."))
    if kanal and kanal not in set(Channel):
        errors.add("kanal", gettext("Please choose one of the options."))
    team_id = parse_id(team) if team else None
    known_teams = {t.id for t in container(request).catalogue.teams()}
    if team and (staff.role != Role.ADMIN or team_id not in known_teams):
        errors.add("team", gettext("Please choose one of the options."))
    if errors or start is None or end is None:
        return None
    return Filters(start, end, service_id, kanal or None, team_id)


def _day(raw: str, default: date, field: str, errors: FormErrors, gettext: Any) -> date | None:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.add(field, gettext("Please enter a date."))
        return None


def _query(staff: StaffIdentity, filters: Filters) -> StatsQuery:
    # A team lead's figures are their team's, whatever the address asks for.
    team_id = filters.team_id if staff.role == Role.ADMIN else staff.team_id
    return StatsQuery(filters.start, filters.end, filters.service_id, team_id, filters.channel)


def _number(language: str, value: float, kind: Kind) -> str:
    locale = date_locale(language)
    if kind == "rate":
        return format_percent(value, "#,##0.0 %", locale=locale)
    if kind == "count":
        return format_decimal(value, "#,##0", locale=locale)
    return format_decimal(value, "#,##0.0", locale=locale)


def _page(
    request: Request,
    staff: StaffIdentity,
    choices: list[Service],
    errors: FormErrors,
    values: dict[str, str],
    filters: Filters | None,
    report: Report | None,
    *,
    status: int = 200,
) -> HTMLResponse:
    language = pages(request).language(request)
    gettext = pages(request).translations(request).gettext
    panels = []
    if report is not None:
        weeks = [week.label for week in report.weeks]
        for table in TABLES:
            table_rows = rows(table, report, gettext("Whole period"))
            panels.append(_section(table, table_rows, weeks, language, gettext))
    teams = container(request).catalogue.teams() if staff.role == Role.ADMIN else []
    return render(
        request,
        staff,
        "staff/statistics.html",
        section=SECTION,
        status_code=status,
        errors=errors,
        values=values,
        service_choices=[(str(s.id), s.name) for s in choices],
        team_choices=[(str(t.id), t.name) for t in teams],
        filters=filters,
        report=report,
        panels=panels,
        number=lambda value, kind: "–" if value is None else _number(language, value, kind),
        max_days=MAX_DAYS,
        team_lead_only=staff.role != Role.ADMIN,
    )


def _section(
    table: Table, table_rows: list[Row], weeks: list[str], language: str, gettext: Any
) -> dict[str, Any]:
    weekly = table_rows[:-1]
    series = [
        (gettext(table.columns[i].label), [row.values[i] for row in weekly]) for i in table.charted
    ]
    chart = bar_chart(weeks, series, lambda v: _number(language, v, table.unit))
    return {"table": table, "rows": table_rows, "chart": chart}
