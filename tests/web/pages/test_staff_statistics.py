"""The statistics dashboard (web/pages/staff_statistics.py): who may open it and its CSV, in
one table; the figures on the page and in each CSV are scheduler/statistics.py's, narrowed by
the filters; a team lead sees their own team only; bad filters are a form error, an empty
period draws no broken chart. The suite's clock is frozen at Monday 2031-01-06."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from scheduler.catalogue import AdvisorSpec
from scheduler.db import write_session
from scheduler.models import Role, Staff
from scheduler.requests import BookingRequest
from scheduler.statistics import StatsQuery
from tests.web.pages.test_staff_login import staff_client
from web.pages.statistics_tables import TABLES

BERLIN = ZoneInfo("Europe/Berlin")
PERIOD = "von=2031-01-06&bis=2031-01-19"
EMAILS = {
    "advisor": "advisor@example.org",
    "team lead": "lead@example.org",
    "hotline": "hotline@example.org",
    "admin": "admin@example.org",
}
ROLES = ("anonymous", "advisor", "hotline", "team lead", "admin")
# (what, path, expected: anonymous, advisor, hotline, team lead, admin); pages send whoever
# is not logged in to the login.
PATHS = [
    ("dashboard", f"/staff/statistik?{PERIOD}", (303, 403, 403, 200, 200)),
    *(
        (
            f"{table.key}.csv",
            f"/staff/statistik/{table.key}.csv?{PERIOD}",
            (303, 403, 403, 200, 200),
        )
        for table in TABLES
    ),
]


def _book(container, service, day, hour, email, *, by_staff=False):
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=datetime(2031, 1, day, hour, tzinfo=BERLIN),
            channel="video",
            name="Erika Mustermann",
            email=email,
        )
    )
    assert placed.booking is not None
    return placed.booking


@pytest.fixture
def office(container, world):
    """Two teams with a service each: three appointments for the first, one for the other."""
    north = container.catalogue.create_team(world.admin, "Nord", None)
    south = container.catalogue.create_team(world.admin, "Süd", None)
    wohngeld = world.service(name="Wohngeld", team_id=north.id)
    pflege = world.service(name="Pflegegeld", team_id=south.id)
    world.advisor([wohngeld], email="advisor@example.org")
    world.advisor([pflege])
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    lead, _ = container.catalogue.create_advisor(
        world.admin,
        AdvisorSpec(
            name="Lea Lead",
            email="lead@example.org",
            service_ids=[],
            password="correct horse battery",
            team_id=north.id,
        ),
    )
    with write_session(container.sessions) as session:
        session.execute(update(Staff).where(Staff.id == lead.id).values(team_lead=True))
    _book(container, wohngeld, 7, 9, "a@example.org")
    _book(container, wohngeld, 8, 9, "b@example.org")
    _book(container, wohngeld, 14, 10, "c@example.org")
    _book(container, pflege, 7, 10, "d@example.org")
    return {"north": north, "wohngeld": wohngeld, "pflege": pflege}


def _client(app, client, role):
    return client if role == "anonymous" else staff_client(app, EMAILS[role])


def _cells(html: str, key: str) -> list[list[str]]:
    """The rows of a table on the page: its header cell then its values."""
    section = html.split(f'id="stats-{key}"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>.*?</t[hd]>", row)
        ]
        for row in re.findall(r"<tr>.*?</tr>", body, re.S)
    ]


@pytest.mark.parametrize(("what", "path", "expected"), PATHS, ids=[p[0] for p in PATHS])
@pytest.mark.parametrize("role", ROLES)
def test_who_may_open_the_dashboard_and_its_tables(app, client, office, what, path, expected, role):
    response = _client(app, client, role).get(path, follow_redirects=False)
    assert response.status_code == expected[ROLES.index(role)]


def test_only_administrators_and_team_leads_see_the_section_in_the_menu(app, office):
    assert 'href="/staff/statistik"' in staff_client(app, EMAILS["admin"]).get("/staff/admin").text
    lead = staff_client(app, EMAILS["team lead"]).get("/staff/agenda").text
    assert 'href="/staff/statistik"' in lead
    advisor = staff_client(app, EMAILS["advisor"]).get("/staff/agenda").text
    assert 'href="/staff/statistik"' not in advisor


def test_the_page_shows_the_figures_of_the_statistics_per_week(app, container, office):
    page = staff_client(app, EMAILS["admin"]).get(f"/staff/statistik?{PERIOD}")
    assert page.status_code == 200
    report = container.statistics.report(StatsQuery(date(2031, 1, 6), date(2031, 1, 19)))
    assert [w.figures["bookings"] for w in report.weeks] == [3, 1]
    rows = _cells(page.text, "buchungen")
    assert rows == [
        ["2031-W02", "3", "3", "0"],
        ["2031-W03", "1", "1", "0"],
        ["Gesamter Zeitraum", "4", "4", "0"],
    ]
    # Each table has its chart, titled and described, and its bars name what they show.
    for table in TABLES:
        assert f'aria-labelledby="chart-{table.key}-title chart-{table.key}-desc"' in page.text
    assert "<title>W02, Online gebucht: 3</title>" in page.text.replace("2031-", "")


def test_filters_narrow_the_figures(app, office):
    admin = staff_client(app, EMAILS["admin"])
    service = office["pflege"].id
    one = admin.get(f"/staff/statistik?{PERIOD}&anliegen={service}")
    assert _cells(one.text, "buchungen")[-1][1] == "1"
    team = admin.get(f"/staff/statistik?{PERIOD}&team={office['north'].id}")
    assert _cells(team.text, "buchungen")[-1][1] == "3"
    phone = admin.get(f"/staff/statistik?{PERIOD}&kanal=phone")
    assert _cells(phone.text, "buchungen")[-1][1] == "0"


def test_a_team_lead_sees_their_team_only(app, office):
    lead = staff_client(app, EMAILS["team lead"])
    page = lead.get(f"/staff/statistik?{PERIOD}")
    assert _cells(page.text, "buchungen")[-1][1] == "3"
    assert "Wohngeld" in page.text
    assert "Pflegegeld" not in page.text
    # Another team's service or a team of their choosing is refused, not quietly widened.
    assert lead.get(f"/staff/statistik?{PERIOD}&anliegen={office['pflege'].id}").status_code == 422
    assert lead.get(f"/staff/statistik?{PERIOD}&team={office['north'].id}").status_code == 422
    csv_rows = _csv(lead.get(f"/staff/statistik/buchungen.csv?{PERIOD}"))
    assert csv_rows[-1][:2] == ["Gesamter Zeitraum", "3"]


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


@pytest.mark.parametrize("table", TABLES, ids=[t.key for t in TABLES])
def test_each_csv_holds_the_table_of_the_page(app, office, table):
    admin = staff_client(app, EMAILS["admin"])
    page = admin.get(f"/staff/statistik?{PERIOD}")
    rows = _csv(admin.get(f"/staff/statistik/{table.key}.csv?{PERIOD}"))
    header, *body = rows
    assert header[0] == "Woche"
    assert len(header) == len(table.columns) + 1
    on_page = [
        [cell if cell != "–" else "" for cell in row] for row in _cells(page.text, table.key)
    ]
    assert body == on_page


def test_an_unknown_table_is_404(app, office):
    admin = staff_client(app, EMAILS["admin"])
    assert admin.get(f"/staff/statistik/personen.csv?{PERIOD}").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("von=gestern", "von"),
        ("von=2031-01-10&bis=2031-01-01", "bis"),
        ("von=2030-01-01&bis=2031-06-01", "bis"),
        ("anliegen=abc", "anliegen"),
        ("anliegen=999999", "anliegen"),
        ("kanal=fax", "kanal"),
        ("team=%00", "team"),
    ],
)
def test_bad_filters_are_form_errors(app, office, query, field):
    admin = staff_client(app, EMAILS["admin"])
    page = admin.get(f"/staff/statistik?{query}")
    assert page.status_code == 422
    assert f'id="{field}-error"' in page.text
    assert admin.get(f"/staff/statistik/buchungen.csv?{query}").status_code == 422


def test_an_empty_period_says_so_without_a_chart(app, office):
    page = staff_client(app, EMAILS["admin"]).get("/staff/statistik?von=2030-03-02&bis=2030-03-02")
    assert page.status_code == 200
    assert "Keine Zahlen in diesem Zeitraum." in page.text
    assert '<svg class="chart"' not in page.text
    assert _cells(page.text, "auslastung")[-1][1] == "–"


def test_without_a_period_the_last_twelve_whole_weeks(app, office):
    page = staff_client(app, EMAILS["admin"]).get("/staff/statistik")
    assert page.status_code == 200
    # Monday 2031-01-06: the twelve weeks up to Sunday 2031-01-05.
    assert 'value="2030-10-14"' in page.text
    assert 'value="2031-01-05"' in page.text


def test_the_page_in_english(app, office):
    admin = staff_client(app, EMAILS["admin"])
    page = admin.get(f"/staff/statistik?{PERIOD}", headers={"Accept-Language": "en"})
    assert "Appointments booked" in page.text
    assert "Whole period" in page.text
