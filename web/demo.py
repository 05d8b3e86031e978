"""Demo data for a first look: teams, services, six advisors with realistic hours, bookings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select

from documents.requirements import NamedEntry, Requirements
from scheduler.accounts import StaffIdentity
from scheduler.callbacks_rules import CallbackInput
from scheduler.catalogue import AdvisorSpec, HoursSpec, ServiceSpec
from scheduler.db import read_session, write_session
from scheduler.errors import SchedulerError
from scheduler.models import Role, Staff
from scheduler.requests import BookingRequest
from web.container import Container

OFFICE = "Wilhelm-Höpfner-Ring 4, 39116 Magdeburg"


# The documents the two housing benefit services ask for (documents/requirements.py).
NAMED_DOCUMENTS = [
    [
        NamedEntry("Mietvertrag", "Tenancy agreement"),
        NamedEntry("Einkommensnachweise der letzten drei Monate", "Proof of income, last 3 months"),
    ],
    [
        NamedEntry("Letzter Wohngeldbescheid", "Last housing benefit notice"),
        NamedEntry("Aktuelle Mietbescheinigung", "Current rent certificate"),
        NamedEntry("Kontoauszüge der letzten drei Monate", "Bank statements (last 3 months)"),
    ],
]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


LOGINS = [
    DemoLogin("admin", "admin@sprechstunde.example", "demo-admin-password"),
    DemoLogin("advisor", "anna.berger@sprechstunde.example", "demo-advisor-password"),
    DemoLogin("hotline", "hotline@sprechstunde.example", "demo-hotline-password"),
]


def _hours(*days: tuple[range | list[int], list[tuple[str, str]]]) -> list[HoursSpec]:
    return [
        HoursSpec(weekday, time.fromisoformat(start), time.fromisoformat(end))
        for weekdays, intervals in days
        for weekday in weekdays
        for start, end in intervals
    ]


FULL_TIME = _hours(
    (range(4), [("08:00", "12:00"), ("12:30", "16:00")]), ([4], [("08:00", "12:00")])
)
LONG_TUESDAY = _hours(
    ([0, 3], [("08:00", "12:00"), ("12:30", "15:00")]),
    ([1], [("09:00", "12:00"), ("13:00", "18:00")]),
    ([4], [("08:00", "12:00")]),
)
PART_TIME_MORNINGS = _hours((range(3), [("08:00", "12:30")]))
PART_TIME_AFTERNOONS = _hours(([1, 3], [("13:00", "17:00")]), ([4], [("09:00", "12:00")]))

ADVISORS = [
    ("Anna Berger", "anna.berger", 0, FULL_TIME, [0, 1]),
    ("Mehmet Yılmaz", "mehmet.yilmaz", 0, LONG_TUESDAY, [0, 1]),
    ("Katrin Schulze", "katrin.schulze", 0, PART_TIME_MORNINGS, [0, 1]),
    ("Olena Kovalenko", "olena.kovalenko", 1, FULL_TIME, [2, 3]),
    ("Thomas Richter", "thomas.richter", 1, PART_TIME_AFTERNOONS, [2, 3]),
    ("Sabine Neumann", "sabine.neumann", 1, LONG_TUESDAY, [2, 3]),
]

CITIZENS = [
    ("Maria Schmidt", "de"),
    ("Jonas Weber", "de"),
    ("Leyla Demir", "de"),
    ("Oleksandr Shevchenko", "en"),
    ("Helga Fischer", "de"),
    ("Amir Haddad", "en"),
    ("Petra Wagner", "de"),
    ("Lukas Hoffmann", "de"),
]


def seed(container: Container) -> list[DemoLogin]:
    """Create the demo data once; running it again changes nothing."""
    with read_session(container.sessions) as session:
        if session.scalar(select(Staff.id).where(Staff.email == LOGINS[0].email)):
            return LOGINS
    with write_session(container.sessions) as session:
        admin = container.accounts.create(
            session,
            email=LOGINS[0].email,
            name="Demo Admin",
            role=Role.ADMIN,
            password=LOGINS[0].password,
        )
        container.accounts.create(
            session,
            email=LOGINS[2].email,
            name="Hotline Sozialamt",
            role=Role.HOTLINE,
            password=LOGINS[2].password,
        )
        actor = StaffIdentity.of(admin)
    catalogue = container.catalogue
    teams = [
        catalogue.create_team(actor, "Wohngeld", "wohngeld@sprechstunde.example"),
        catalogue.create_team(
            actor, "Grundsicherung und Pflege", "sozialhilfe@sprechstunde.example"
        ),
    ]
    services = [
        catalogue.create_service(
            actor,
            ServiceSpec(
                "Wohngeld: Erstberatung",
                30,
                ["video", "phone", "in_person"],
                buffer_minutes=10,
                description=(
                    "Wir prüfen mit Ihnen, ob Sie Wohngeld bekommen können. "
                    "Und wir sagen Ihnen, welche Papiere Sie dafür brauchen."
                ),
                name_en="Housing benefit: first consultation",
                description_en=(
                    "We check with you whether you can get housing benefit, "
                    "and tell you which papers you need for it."
                ),
                address=OFFICE,
                team_id=teams[0].id,
            ),
        ),
        catalogue.create_service(
            actor,
            ServiceSpec(
                "Wohngeld: Unterlagen besprechen",
                15,
                ["video", "phone"],
                buffer_minutes=5,
                slot_interval_minutes=20,
                description=(
                    "Sie haben schon einen Antrag gestellt? Wir sehen uns gemeinsam Ihre "
                    "Unterlagen an und sagen Ihnen, was noch fehlt."
                ),
                name_en="Housing benefit: go through your papers",
                description_en=(
                    "You have already applied? We look at your papers together "
                    "and tell you what is still missing."
                ),
                team_id=teams[0].id,
            ),
        ),
        catalogue.create_service(
            actor,
            ServiceSpec(
                "Grundsicherung: Beratung",
                45,
                ["video", "in_person"],
                buffer_minutes=15,
                description=(
                    "Sie sind im Rentenalter oder können dauerhaft nicht arbeiten? "
                    "Wir erklären Ihnen, welche Hilfe zum Leben Sie bekommen können."
                ),
                name_en="Basic income support: consultation",
                description_en=(
                    "You are of pension age or permanently unable to work? "
                    "We explain which help with living costs you can get."
                ),
                address=OFFICE,
                team_id=teams[1].id,
            ),
        ),
        catalogue.create_service(
            actor,
            ServiceSpec(
                "Hilfe zur Pflege: Beratung",
                60,
                ["video", "phone", "in_person"],
                buffer_minutes=15,
                description=(
                    "Sie oder ein Mensch in Ihrer Familie braucht Pflege? Wir erklären "
                    "die Hilfe zur Pflege, den Antrag und welche Nachweise nötig sind."
                ),
                name_en="Care assistance: consultation",
                description_en=(
                    "You or someone in your family needs care? We explain care assistance, "
                    "how to apply and which proof is needed."
                ),
                address=OFFICE,
                team_id=teams[1].id,
            ),
        ),
    ]
    for name, local_part, team, hours, service_indexes in ADVISORS:
        password = LOGINS[1].password if local_part == "anna.berger" else None
        staff, _ = catalogue.create_advisor(
            actor,
            AdvisorSpec(
                name=name,
                email=f"{local_part}@sprechstunde.example",
                service_ids=[services[i].id for i in service_indexes],
                password=password,
                team_id=teams[team].id,
            ),
        )
        catalogue.set_weekly_hours(StaffIdentity.of(staff), staff.id, hours)
    requirements = Requirements(container.sessions)
    for service, named in zip(services[:2], NAMED_DOCUMENTS, strict=True):
        requirements.replace(service.id, named)
    _book_some(container, [s.id for s in services])
    _ask_for_callbacks(container, [s.id for s in services])
    return LOGINS


def _book_some(container: Container, service_ids: list[int]) -> None:
    scheduler = container.scheduler
    today = scheduler.clock().astimezone(scheduler.tz).date()
    for index, (name, language) in enumerate(CITIZENS):
        service_id = service_ids[index % len(service_ids)]
        slots = scheduler.slots(service_id, today, today + timedelta(days=13))
        if not slots:
            continue
        slot = slots[(index * 7) % len(slots)]
        channel = ["video", "phone", "video", "in_person"][index % 4]
        service = next(s for s in scheduler.services() if s.id == service_id)
        if channel not in service.channels:
            channel = "video"
        email = name.lower().replace(" ", ".").replace("ı", "i") + "@example.org"
        phone = f"0391 555 {index:04d}" if channel == "phone" else None
        try:
            scheduler.book(
                BookingRequest(
                    service_id=service_id,
                    start=slot.start,
                    channel=channel,
                    name=name,
                    email=email,
                    phone=phone,
                    language=language,
                )
            )
        except SchedulerError:
            continue  # a demo booking that does not fit is simply left out


def _ask_for_callbacks(container: Container, service_ids: list[int]) -> None:
    """A few callback requests in the hotline's queue, 10-12 o'clock on the coming weekdays."""
    scheduler = container.scheduler
    today = scheduler.clock().astimezone(scheduler.tz).date()
    weekdays = [d for d in (today + timedelta(days=n) for n in range(1, 8)) if d.weekday() < 5]
    for index, (name, language) in enumerate(CITIZENS[:3]):
        day = weekdays[index % len(weekdays)]
        start = datetime.combine(day, time(10), scheduler.tz)
        try:
            container.callbacks.request(
                CallbackInput(
                    service_id=service_ids[index % len(service_ids)],
                    name=name,
                    phone=f"0391 555 {100 + index:04d}",
                    windows=[(start, start + timedelta(hours=2))],
                    language=language,
                    note="Frage zum Antrag" if language == "de" else "Question about the form",
                )
            )
        except SchedulerError:
            continue  # a demo request that does not fit is simply left out
