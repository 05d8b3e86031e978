"""The long-lived parts of one running application, built from settings by `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from documents.crypto import DocumentKeys
from documents.desk import DocumentDesk, DocumentLimits
from documents.retention import DocumentSweep
from documents.rights import export_documents
from documents.scanner import Scanner
from documents.staff import StaffDocuments
from documents.storage import BlobStore, DatabaseStore, DirectoryStore, EncryptedStore
from documents.worker import ScanWorker
from notifications.agenda import AgendaComposer, AgendaConfig, AgendaPlanner
from notifications.callback_mail import CallbackComposer, CallbackMailWriter
from notifications.contact_mail import ContactComposer, ContactMailWriter
from notifications.credential_mail import ResetMailComposer, ResetMailWriter
from notifications.dead_mail import DeadMail
from notifications.delivery import DeliveryPolicy, Outbox, OutboxWorker, SmtpTransport, Transport
from notifications.messages import MailRenderer
from notifications.outbox import OutboxConfig, OutboxWriter
from notifications.retention import ERASERS as OUTBOX_ERASERS
from notifications.rights import erase_mails_to, export_mails
from notifications.team_mail import TeamNoticeComposer, TeamNoticeWriter
from notifications.waitlist_mail import ComposerWithWaitlist, WaitlistOutboxWriter, WaitlistUrls
from rooms.access import RoomAccess, RoomConfig
from rooms.ice import IceConfig, IceServers
from rooms.retention import ERASERS as ROOM_ERASERS
from scheduler.accounts import Accounts
from scheduler.callbacks import CallbackConfig, CallbackDesk
from scheduler.callbacks_retention import ERASERS as CALLBACK_ERASERS
from scheduler.catalogue import Catalogue
from scheduler.catalogue_edit import CatalogueEdit
from scheduler.contact_change import ContactChange
from scheduler.credentials import Credentials
from scheduler.db import call_after_commit, make_sessionmaker, utcnow
from scheduler.desk import Desk
from scheduler.displacement import Displacement
from scheduler.events import BookingEvent, BookingEventKind
from scheduler.models import Absence, WeeklyHours
from scheduler.people import People
from scheduler.retention import ERASERS, DailyPurge, Retention
from scheduler.rights import Rights
from scheduler.services import LINK_GRACE, Scheduler, SchedulerConfig
from scheduler.statistics import Statistics
from scheduler.statistics_keep import record_canceller
from scheduler.tokens import TokenService
from scheduler.waitlist import NUDGE, Waitlist, WaitlistConfig
from scheduler.waitlist_retention import ERASERS as WAITLIST_ERASERS
from scheduler.waitlist_worker import WaitlistWorker
from web.database import engine_for
from web.document_images import PageImages
from web.lanes import Lane, booking_width
from web.links import Links
from web.settings import Settings
from web.slot_answers import SlotAnswers


def _transport(settings: Settings) -> Transport | None:
    if settings.smtp_host is None:
        return None  # development: messages are kept and shown at /dev/mail
    return SmtpTransport(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        security=settings.smtp_security,
    )


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    tokens: TokenService
    accounts: Accounts
    scheduler: Scheduler
    links: Links
    catalogue: Catalogue
    catalogue_edit: CatalogueEdit
    desk: Desk
    outbox: Outbox
    worker: OutboxWorker
    rooms: RoomAccess
    ice: IceServers
    retention: Retention
    daily_purge: DailyPurge
    waitlist: Waitlist
    waitlist_worker: WaitlistWorker
    callbacks: CallbackDesk
    agenda: AgendaPlanner
    documents: DocumentDesk
    scan_worker: ScanWorker
    page_images: PageImages
    staff_documents: StaffDocuments
    rights: Rights
    statistics: Statistics
    people: People
    contact_change: ContactChange
    credentials: Credentials
    dead_mail: DeadMail
    booking_lane: Lane
    slot_answers: SlotAnswers

    @classmethod
    def build(cls, settings: Settings, clock: Callable[[], datetime] = utcnow) -> Container:
        engine = engine_for(settings.database_url)
        sessions = make_sessionmaker(engine)
        tokens = TokenService(settings.secrets, issuer=settings.base_url, clock=clock)
        accounts = Accounts(sessions, tokens, clock=clock)
        config = SchedulerConfig(
            timezone=settings.timezone,
            holiday_country=settings.holiday_country,
            holiday_subdivision=settings.holiday_subdivision,
            hold_minutes=settings.hold_minutes,
            max_open_per_email=settings.max_open_bookings_per_email,
            # A link outlives its appointment by a month, never the booking's personal data.
            link_grace=min(LINK_GRACE, timedelta(days=settings.retention_days)),
        )
        scheduler = Scheduler(sessions, tokens, config, clock=clock)
        links = Links(settings.base_url, scheduler.links)
        outbox_config = OutboxConfig(
            base_url=settings.base_url,
            mail_from=settings.mail_from,
            hotline_phone=settings.hotline_phone,
            reminders=[timedelta(hours=h) for h in settings.reminder_hours],
        )
        scheduler.events.subscribe(OutboxWriter(outbox_config))
        scheduler.events.subscribe(record_canceller)
        scheduler.events.subscribe(TeamNoticeWriter(settings.base_url, settings.staff_language))
        waitlist = Waitlist(
            scheduler, WaitlistConfig(offer_lifetime=timedelta(hours=settings.offer_hours))
        )
        waitlist.subscribe(WaitlistOutboxWriter(outbox_config))
        callbacks = CallbackDesk(
            scheduler,
            CallbackConfig(
                max_failed_attempts=settings.callback_max_attempts,
                max_open_per_person=settings.max_open_bookings_per_email,
            ),
        )
        callbacks.subscribe(CallbackMailWriter(outbox_config))
        outbox = Outbox(
            sessions,
            _transport(settings),
            settings.mail_from,
            ComposerWithWaitlist(
                scheduler,
                links,
                MailRenderer(),
                outbox_config,
                waitlist=waitlist,
                urls=WaitlistUrls(settings.base_url, waitlist),
                hotline_phone=settings.hotline_phone,
            ),
            policy=DeliveryPolicy(first_retry=timedelta(seconds=settings.mail_retry_seconds)),
            clock=clock,
        )
        outbox.composer = CallbackComposer(
            outbox.composer,
            MailRenderer(),
            outbox_config,
            links,
            scheduler.tz,
            callbacks,
            # The citizen's page to see or withdraw the request (docs/callbacks.md).
            withdraw_url=lambda token: f"{settings.base_url}/r/{token}",
        )
        staff_pages = f"{settings.base_url.rstrip('/')}/staff"
        outbox.composer = TeamNoticeComposer(
            outbox.composer,
            scheduler,
            MailRenderer(),
            staff_url=lambda reference: f"{staff_pages}/buchungen/{reference}",
            hotline_phone=settings.hotline_phone,
        )
        agenda_config = AgendaConfig(
            settings.agenda_mail_time,
            settings.timezone,
            settings.base_url,
            settings.staff_language,
        )
        outbox.composer = AgendaComposer(
            outbox.composer, MailRenderer(), agenda_config, agenda_url=f"{staff_pages}/agenda"
        )
        contact_change = ContactChange(scheduler)
        contact_change.subscribe(ContactMailWriter(settings.base_url))
        outbox.composer = ContactComposer(
            outbox.composer,
            scheduler,
            settings.base_url,
            settings.hotline_phone,
            contact_change.email_token,
        )
        credentials = Credentials(sessions, accounts, tokens, clock)
        credentials.reset_listeners.append(
            ResetMailWriter(settings.base_url, settings.staff_language)
        )
        outbox.composer = ResetMailComposer(outbox.composer, settings.base_url, scheduler.tz)
        agenda = AgendaPlanner(sessions, agenda_config, clock)
        outbox.planners.append(agenda)
        worker = OutboxWorker(outbox)
        _wake_after_commit(sessions, worker)
        waitlist_worker = WaitlistWorker(waitlist, poll=settings.offer_loop_seconds)
        _nudge_offers(sessions, scheduler, waitlist_worker)
        rooms = RoomAccess(sessions, tokens, _room_config(settings), clock=clock)
        ice = IceServers(
            IceConfig(
                stun_urls=tuple(settings.stun_urls),
                turn_urls=tuple(settings.turn_urls),
                turn_secret=settings.turn_secret,
                turn_ttl=timedelta(seconds=settings.turn_ttl_seconds),
            ),
            clock=clock,
        )
        documents = _documents(settings, sessions, clock)
        retention = Retention(
            sessions,
            timedelta(days=settings.retention_days),
            [*ERASERS, *WAITLIST_ERASERS, *CALLBACK_ERASERS, *OUTBOX_ERASERS, *ROOM_ERASERS],
            clock=clock,
            # Never later than the booking's own data goes.
            sweeps=[DocumentSweep(documents, timedelta(days=settings.document_days))],
        )
        width = booking_width(
            engine.dialect.name, settings.booking_threads, settings.worker_threads
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            tokens=tokens,
            accounts=accounts,
            scheduler=scheduler,
            links=links,
            catalogue=Catalogue(sessions, accounts, Displacement(scheduler)),
            catalogue_edit=CatalogueEdit(sessions, Displacement(scheduler), clock),
            desk=Desk(scheduler),
            outbox=outbox,
            worker=worker,
            rooms=rooms,
            ice=ice,
            retention=retention,
            daily_purge=DailyPurge(retention, settings.purge_time, settings.timezone, clock),
            waitlist=waitlist,
            waitlist_worker=waitlist_worker,
            callbacks=callbacks,
            agenda=agenda,
            documents=documents,
            scan_worker=ScanWorker(documents, poll=settings.document_scan_seconds),
            page_images=PageImages(documents),
            staff_documents=StaffDocuments(sessions, documents, clock),
            rights=Rights(scheduler, retention, [export_documents, export_mails]),
            statistics=Statistics(sessions, scheduler.placement, scheduler.searches),
            people=People(
                scheduler,
                retention,
                waitlist,
                [export_documents, export_mails],
                [("mails_to_person_deleted", erase_mails_to)],
            ),
            contact_change=contact_change,
            credentials=credentials,
            dead_mail=DeadMail(sessions, clock),
            booking_lane=Lane(width, inline=engine.dialect.name == "sqlite"),
            slot_answers=SlotAnswers(),
        )


def _documents(
    settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> DocumentDesk:
    raw: BlobStore
    if settings.document_store == "database":
        raw = DatabaseStore(sessions)
    else:
        raw = DirectoryStore(settings.document_dir)
    current, previous = settings.document_secrets
    return DocumentDesk(
        sessions,
        EncryptedStore(raw, DocumentKeys(current, previous)),
        Scanner(settings.clamav_url) if settings.clamav_url else None,
        DocumentLimits(
            max_file_bytes=settings.document_max_bytes,
            max_files=settings.document_max_files,
            max_total_bytes=settings.document_max_total_bytes,
        ),
        clock=clock,
    )


def _room_config(settings: Settings) -> RoomConfig:
    return RoomConfig(
        opens_before=timedelta(minutes=settings.room_opens_minutes),
        closes_after=timedelta(minutes=settings.room_closes_minutes),
        adhoc_lifetime=timedelta(minutes=settings.adhoc_room_minutes),
        ticket_lifetime=timedelta(minutes=settings.room_ticket_minutes),
        max_participants=settings.max_room_participants,
    )


def _wake_after_commit(sessions: sessionmaker[Session], worker: OutboxWorker) -> None:
    """Wake the worker as soon as a transaction that wrote messages has committed."""
    call_after_commit(sessions, "outbox_written", worker.wake)


def _nudge_offers(
    sessions: sessionmaker[Session], scheduler: Scheduler, worker: WaitlistWorker
) -> None:
    """Wake the waiting list's offer loop after a commit that may have freed a slot: a
    cancellation or a reschedule (booking events), new weekly hours, an absence withdrawn, an
    offer declined or given back (`NUDGE`)."""

    def freed(session: Session, change: BookingEvent) -> None:
        if change.kind in (BookingEventKind.CANCELLED, BookingEventKind.RESCHEDULED):
            session.info[NUDGE] = True

    scheduler.events.subscribe(freed)
    event.listen(sessions, "after_flush", _flag_freed_hours)
    call_after_commit(sessions, NUDGE, worker.wake)


def _flag_freed_hours(session: Session, _context: object) -> None:
    """Module-level, holding nothing: see `call_after_commit` for why."""
    if any(isinstance(row, WeeklyHours) for row in session.new) or any(
        isinstance(row, Absence) for row in session.deleted
    ):
        session.info[NUDGE] = True
