"""Import of staff accounts with their services and weekly hours from a CSV file, as office
spreadsheets export it (docs/administration.md has the format and an example).

The file is UTF-8, with or without the byte order mark Excel writes, separated by `;` (what a
German spreadsheet exports) or `,` (whichever the header line uses). `check` is the dry run: it
reports every bad line with its line number, column and a reason code, and writes nothing.
`run` imports only a file without a single bad line, all in one transaction, so that a file is
either imported whole or not at all. Accounts are created without a password: the person sets
one through the password reset link, and nobody else ever knows it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scheduler.accounts import Accounts, StaffIdentity
from scheduler.catalogue import HoursSpec, hours_problems
from scheduler.db import read_session, write_session
from scheduler.errors import InvalidRequest
from scheduler.models import AuditEntry, Role, Service, Staff, WeeklyHours

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
COLUMNS = ("email", "name", "role", "services", *DAYS)
MAX_LINES = 500  # an office's whole staff several times over
MAX_NAME = 200
_EMAIL = re.compile(r"[^@\s;,\x00-\x1f\x7f]{1,64}@[^@\s;,\x00-\x1f\x7f]+\.[^@\s;,\x00-\x1f\x7f]+")
# Control characters, which PostgreSQL refuses in text (NUL) and no name contains.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RANGE = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")

# The reason codes of a bad line (their texts are in web/errors.py MESSAGES).
NOT_UTF8 = "import_not_utf8"
NOT_CSV = "import_not_csv"
WRONG_HEADER = "import_wrong_header"
TOO_MANY_LINES = "import_too_many_lines"
NO_LINES = "import_no_lines"
WRONG_COLUMN_COUNT = "import_wrong_column_count"
BAD_EMAIL = "import_bad_email"
DUPLICATE_EMAIL = "import_duplicate_email"
EMAIL_TAKEN = "import_email_taken"
MISSING_NAME = "import_missing_name"
BAD_ROLE = "import_bad_role"
UNKNOWN_SERVICE = "import_unknown_service"
BAD_TIME = "import_bad_time"
HOURS_OVERLAP = "import_hours_overlap"


class ImportRefused(InvalidRequest):
    """`run` was given a file with bad lines: nothing was imported."""

    code = "import_refused"


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # 1 is the header; 0 the file as a whole
    column: str
    code: str


@dataclass(frozen=True, slots=True)
class AdvisorRow:
    line: int
    email: str
    name: str
    role: Role
    service_ids: tuple[int, ...]
    hours: tuple[HoursSpec, ...]


@dataclass(frozen=True, slots=True)
class Checked:
    rows: tuple[AdvisorRow, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.problems and bool(self.rows)


class AdvisorImport:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        accounts: Accounts,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._clock = clock

    def check(self, actor: StaffIdentity, data: bytes) -> Checked:
        """The dry run: every row of the file and every problem of it; writes nothing."""
        actor.require(Role.ADMIN)
        with read_session(self._sessions) as session:
            return _check(session, data)

    def run(self, actor: StaffIdentity, data: bytes) -> int:
        """Create every account of a file without problems, in one transaction; how many.
        The file is checked again inside it, so that an address taken since the dry run
        refuses the whole file rather than a part of it."""
        actor.require(Role.ADMIN)
        try:
            with write_session(self._sessions) as session:
                checked = _check(session, data)
                if not checked.clean:
                    raise ImportRefused(field="file", problems=len(checked.problems))
                for row in checked.rows:
                    _create(session, self._accounts, row)
                session.add(
                    AuditEntry(
                        at=self._clock(),
                        actor_id=actor.id,
                        action="staff_imported",
                        detail=f"accounts={len(checked.rows)}",
                    )
                )
                return len(checked.rows)
        except IntegrityError as exc:
            # An address another administrator's import took at the same moment (PostgreSQL).
            raise ImportRefused(field="file", problems=1) from exc


def _create(session: Session, accounts: Accounts, row: AdvisorRow) -> None:
    staff = accounts.create(session, email=row.email, name=row.name, role=row.role, password=None)
    staff.services = list(session.scalars(select(Service).where(Service.id.in_(row.service_ids))))
    session.add_all(
        WeeklyHours(
            staff_id=staff.id,
            weekday=h.weekday,
            start=h.start.strftime("%H:%M"),
            end=h.end.strftime("%H:%M"),
        )
        for h in row.hours
    )
    session.flush()


def _check(session: Session, data: bytes) -> Checked:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Checked(problems=(Problem(0, "", NOT_UTF8),))
    lines = content.splitlines()
    if not lines or not lines[0].strip():
        return Checked(problems=(Problem(1, "", WRONG_HEADER),))
    delimiter = ";" if ";" in lines[0] else ","
    try:
        records = list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))
    except csv.Error:  # a field beyond the csv module's limit of 128 KiB
        return Checked(problems=(Problem(0, "", NOT_CSV),))
    header = [cell.strip().lower() for cell in records[0]]
    if sorted(header) != sorted(COLUMNS):
        return Checked(problems=(Problem(1, "", WRONG_HEADER),))
    body = [(number, record) for number, record in enumerate(records[1:], 2) if any(record)]
    if len(body) > MAX_LINES:
        return Checked(problems=(Problem(0, "", TOO_MANY_LINES),))
    if not body:
        return Checked(problems=(Problem(0, "", NO_LINES),))
    services = _service_names(session)
    taken = set(session.scalars(select(Staff.email).where(Staff.email.in_(_emails(body, header)))))
    rows: list[AdvisorRow] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, record in body:
        if len(record) != len(header):
            problems.append(Problem(number, "", WRONG_COLUMN_COUNT))
            continue
        cells = {name: cell.strip() for name, cell in zip(header, record, strict=True)}
        row, found = _row(number, cells, services)
        email = cells["email"].lower()
        if email in seen:
            found.insert(0, Problem(number, "email", DUPLICATE_EMAIL))
        elif email in taken:
            found.insert(0, Problem(number, "email", EMAIL_TAKEN))
        seen.add(email)
        problems.extend(found)
        if row is not None and not found:
            rows.append(row)
    return Checked(tuple(rows), tuple(problems))


def _emails(body: Sequence[tuple[int, list[str]]], header: list[str]) -> set[str]:
    at = header.index("email")
    found = {record[at].strip().lower() for _, record in body if len(record) > at}
    return {email for email in found if _EMAIL.fullmatch(email)}


def _service_names(session: Session) -> dict[str, int]:
    """Active services by id and by name (case-insensitive); a name two services share is
    left out, so that it can only be given by id."""
    found: dict[str, int] = {}
    shared: set[str] = set()
    rows: Any = session.execute(select(Service.id, func.lower(Service.name)).where(Service.active))
    for service_id, name in rows:
        found[str(service_id)] = service_id
        key = name.strip()
        if key in found:
            shared.add(key)
        found[key] = service_id
    return {key: value for key, value in found.items() if key not in shared}


def _row(
    number: int, cells: dict[str, str], services: dict[str, int]
) -> tuple[AdvisorRow | None, list[Problem]]:
    problems: list[Problem] = []
    if not _EMAIL.fullmatch(cells["email"]) or len(cells["email"]) > 320:
        problems.append(Problem(number, "email", BAD_EMAIL))
    if not cells["name"] or len(cells["name"]) > MAX_NAME or _CONTROL.search(cells["name"]):
        problems.append(Problem(number, "name", MISSING_NAME))
    role = cells["role"].lower() or Role.ADVISOR.value
    if role not in {r.value for r in Role}:
        problems.append(Problem(number, "role", BAD_ROLE))
    names = [n.strip().lower() for n in cells["services"].split("|") if n.strip()]
    if any(name not in services for name in names):
        problems.append(Problem(number, "services", UNKNOWN_SERVICE))
    hours: list[HoursSpec] = []
    for weekday, day in enumerate(DAYS):
        ranges = _ranges(weekday, cells[day])
        if ranges is None:
            problems.append(Problem(number, day, BAD_TIME))
            continue
        if hours_problems(ranges):
            problems.append(Problem(number, day, HOURS_OVERLAP))
        hours.extend(ranges)
    if problems:
        return None, problems
    service_ids = tuple(dict.fromkeys(services[name] for name in names))
    row = AdvisorRow(
        number, cells["email"].lower(), cells["name"], Role(role), service_ids, tuple(hours)
    )
    return row, problems


def _ranges(weekday: int, cell: str) -> list[HoursSpec] | None:
    """The day's intervals ("08:00-12:00 13:00-16:00"); None when one is not a time range
    that starts before it ends."""
    found = []
    for part in cell.split():
        match = _RANGE.fullmatch(part)
        if match is None:
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) >= (h2, m2):
            return None
        found.append(HoursSpec(weekday, time(h1, m1), time(h2, m2)))
    return found
