"""The waiting list: join, see the position, leave; the staff's view of the lists. The offers
made from it, and the offer loop, are in `scheduler/offers.py`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.addresses import cap_key
from scheduler.db import conflict_kind, read_session, write_session
from scheduler.errors import (
    AlreadyWaiting,
    ChannelNotOffered,
    EmailRequired,
    NotFound,
    PermissionDenied,
    PhoneRequired,
    TokenInvalid,
    TokenRevoked,
)
from scheduler.models import AuditEntry, Channel, Role, Service, staff_services
from scheduler.offers import OfferDesk
from scheduler.tokens import Audience
from scheduler.waitlist_models import (
    ACTIVE,
    EntryStatus,
    OfferStatus,
    WaitlistEntry,
    WaitlistOffer,
)
from scheduler.waitlist_priority import place_of
from scheduler.waitlist_views import (
    NUDGE,
    EntryInfo,
    JoinRequest,
    OfferInfo,
    QueueInfo,
    RunResult,
    WaitlistConfig,
    WaitlistEvent,
    WaitlistEventKind,
)

if TYPE_CHECKING:
    from scheduler.accounts import StaffIdentity

__all__ = [
    "NUDGE",
    "EntryInfo",
    "JoinRequest",
    "OfferInfo",
    "QueueInfo",
    "RunResult",
    "Waitlist",
    "WaitlistConfig",
    "WaitlistEvent",
    "WaitlistEventKind",
]


class Waitlist(OfferDesk):
    """The waiting list's use cases, on the booking engine's sessions, tokens and clock."""

    def entry_token(self, entry: EntryInfo) -> str:
        """The link token of an entry; the same for every mail of one version."""
        return self.scheduler.tokens.issue(
            Audience.WAITLIST,
            str(entry.id),
            entry.token_version,
            entry.created_at,
            self.config.entry_link_lifetime,
        )

    def _entry_id(self, token: str) -> tuple[int, int]:
        claims = self.scheduler.tokens.decode(token, Audience.WAITLIST)
        if not claims.subject.isdigit():
            raise TokenInvalid("malformed subject")
        return int(claims.subject), claims.version

    # -- joining and leaving ---------------------------------------------------------------

    def join(self, request: JoinRequest) -> EntryInfo:
        """Put a person on the waiting list of a service (at its end)."""
        email = (request.email or "").strip() or None
        if email is None:
            raise EmailRequired(field="email")  # offers only ever reach people by e-mail
        if request.channel == Channel.PHONE and not (request.phone or "").strip():
            raise PhoneRequired(field="phone")
        try:
            with write_session(self.scheduler.sessions) as session:
                _queue_lock(session, request.service_id)
                now = self.clock()  # under the lock: the order of joining is the line's
                service = self.scheduler.placement.service(session, request.service_id)
                if request.channel not in service.channels:
                    raise ChannelNotOffered(channel=request.channel)
                entry = WaitlistEntry(
                    service_id=service.id,
                    name=request.name,
                    email=email,
                    email_key=cap_key(email),
                    channel=request.channel,
                    phone=(request.phone or "").strip() or None,
                    weekdays=sorted(set(request.weekdays)),
                    day_parts=sorted(set(request.day_parts)),
                    language=request.language,
                    status=EntryStatus.WAITING,
                    token_version=1,
                    created_by_id=request.created_by_id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(entry)
                session.flush()
                # A slot that suits may be free already (the person may not have seen it).
                session.info[NUDGE] = True
                self._emit(
                    session,
                    WaitlistEvent(WaitlistEventKind.JOINED, entry.id, email, entry.language, now),
                )
                return self._entry_info(session, entry, service.name)
        except IntegrityError as exc:
            if conflict_kind(exc) == "unique":
                raise AlreadyWaiting(field="email") from None
            raise

    def entry_for_token(self, token: str) -> EntryInfo:
        entry_id, version = self._entry_id(token)
        with read_session(self.scheduler.sessions) as session:
            entry = self._entry_by(session, entry_id, version)
            return self._entry_info(session, entry)

    def leave(self, token: str) -> EntryInfo:
        """Take an entry off the list; an open offer goes back. Leaving twice changes nothing."""
        entry_id, version = self._entry_id(token)
        now = self.clock()
        with write_session(self.scheduler.sessions) as session:
            # The open offer's row first, then the entry's: the order in which accepting and
            # expiring lock them, so that none of them waits for another in a circle.
            self._withdraw_open_offer(session, entry_id, now, OfferStatus.DECLINED)
            entry = self._entry_by(session, entry_id, version, lock=True)
            if entry.status in ACTIVE:
                entry.status, entry.updated_at = EntryStatus.LEFT, now
                session.flush()
            return self._entry_info(session, entry)

    # -- staff -----------------------------------------------------------------------------

    def remove(self, actor: StaffIdentity, entry_id: int) -> EntryInfo:
        """Staff take an entry off the list (the person asked, on the phone or in a letter);
        an open offer goes back. Removing twice changes nothing."""
        actor.require(Role.ADMIN, Role.HOTLINE)
        now = self.clock()
        with write_session(self.scheduler.sessions) as session:
            # In the order `leave` locks them.
            self._withdraw_open_offer(session, entry_id, now, OfferStatus.DECLINED)
            entry = session.scalar(
                select(WaitlistEntry).where(WaitlistEntry.id == entry_id).with_for_update()
            )
            if entry is None:
                raise NotFound("unknown waiting-list entry", field="entry")
            if entry.status in ACTIVE:
                entry.status, entry.updated_at = EntryStatus.REMOVED, now
                session.add(
                    AuditEntry(
                        at=now,
                        actor_id=actor.id,
                        action="waitlist_entry_removed",
                        detail=f"waitlist entry {entry.id}",
                    )
                )
                session.flush()
            return self._entry_info(session, entry)

    def queues(self, actor: StaffIdentity, service_id: int | None = None) -> list[QueueInfo]:
        """Per service: the people waiting, those with an open offer, and the oldest entry.
        Administrators and hotline see every service, advisors their own."""
        with read_session(self.scheduler.sessions) as session:
            services = select(Service.id, Service.name).where(Service.active)
            if actor.role == Role.ADVISOR:
                mine = select(staff_services.c.service_id).where(
                    staff_services.c.staff_id == actor.id
                )
                services = services.where(Service.id.in_(mine))
            elif actor.role not in (Role.ADMIN, Role.HOTLINE):
                raise PermissionDenied(role=actor.role.value)
            if service_id is not None:
                services = services.where(Service.id == service_id)
            rows = session.execute(services.order_by(Service.id))
            names: dict[int, str] = {row[0]: row[1] for row in rows}
            if service_id is not None and service_id not in names:
                raise NotFound("unknown service", field="service_id")
            counts = session.execute(
                select(
                    WaitlistEntry.service_id,
                    WaitlistEntry.status,
                    func.count(),
                    func.min(WaitlistEntry.created_at),
                )
                .where(WaitlistEntry.status.in_(ACTIVE), WaitlistEntry.service_id.in_(names))
                .group_by(WaitlistEntry.service_id, WaitlistEntry.status)
            ).all()
        found: dict[int, dict[str, tuple[int, datetime | None]]] = {}
        for sid, status, count, oldest in counts:
            found.setdefault(sid, {})[status] = (count, _utc(oldest))
        out = []
        for sid, name in names.items():
            waiting = found.get(sid, {}).get(EntryStatus.WAITING, (0, None))
            offered = found.get(sid, {}).get(EntryStatus.OFFERED, (0, None))
            first = min((t for t in (waiting[1], offered[1]) if t is not None), default=None)
            out.append(QueueInfo(sid, name, waiting[0], offered[0], first))
        return out

    def add_by_staff(self, actor: StaffIdentity, request: JoinRequest) -> EntryInfo:
        """Hotline or an administrator (an advisor for their services) puts a caller on the list."""
        if actor.role == Role.ADVISOR:
            with read_session(self.scheduler.sessions) as session:
                linked = session.scalar(
                    select(func.count()).where(
                        staff_services.c.staff_id == actor.id,
                        staff_services.c.service_id == request.service_id,
                    )
                )
            if not linked:
                raise PermissionDenied(role=actor.role.value)
        elif actor.role not in (Role.ADMIN, Role.HOTLINE):
            raise PermissionDenied(role=actor.role.value)
        return self.join(replace(request, created_by_id=actor.id))

    def _entry_by(
        self, session: Session, entry_id: int, version: int, lock: bool = False
    ) -> WaitlistEntry:
        query = select(WaitlistEntry).where(WaitlistEntry.id == entry_id)
        entry = session.scalar(query.with_for_update() if lock else query)
        if entry is None or entry.token_version != version:
            raise TokenRevoked()
        return entry

    def _entry_info(
        self, session: Session, entry: WaitlistEntry, service_name: str | None = None
    ) -> EntryInfo:
        if service_name is None:
            service_name = session.scalar(
                select(Service.name).where(Service.id == entry.service_id)
            )
        position = None
        if entry.status == EntryStatus.WAITING:
            position = 1 + (
                session.scalar(
                    select(func.count()).where(
                        WaitlistEntry.service_id == entry.service_id,
                        WaitlistEntry.status == EntryStatus.WAITING,
                        _ahead_of(entry),
                    )
                )
                or 0
            )
        return EntryInfo(
            id=entry.id,
            service_id=entry.service_id,
            service_name=service_name or "",
            name=entry.name,
            email=entry.email,
            channel=entry.channel,
            phone=entry.phone,
            weekdays=list(entry.weekdays),
            day_parts=list(entry.day_parts),
            language=entry.language,
            status=entry.status,
            token_version=entry.token_version,
            created_at=entry.created_at,
            position=position,
        )

    # -- for the mails ---------------------------------------------------------------------

    def priority_place(
        self, session: Session, service_id: int, email: str | None
    ) -> EntryInfo | None:
        """The place first in line the office gave a person whose appointment it cancelled."""
        entry = place_of(session, service_id, email) if email else None
        return self._entry_info(session, entry) if entry is not None else None

    def mail_view(
        self, session: Session, entry_id: int, offer_id: int | None
    ) -> tuple[EntryInfo, OfferInfo | None] | None:
        """The entry (and offer) a waiting-list mail tells of, as they are when it is sent."""
        entry = session.get(WaitlistEntry, entry_id)
        if entry is None:
            return None
        offer = session.get(WaitlistOffer, offer_id) if offer_id is not None else None
        if offer_id is not None and offer is None:
            return None
        info = self._entry_info(session, entry)
        return info, (self._offer_info(session, offer) if offer is not None else None)


def _ahead_of(entry: WaitlistEntry) -> ColumnElement[bool]:
    """Who stands before `entry` in the line (`LINE_ORDER`)."""
    joined_before = or_(
        WaitlistEntry.created_at < entry.created_at,
        and_(WaitlistEntry.created_at == entry.created_at, WaitlistEntry.id < entry.id),
    )
    same_rank = WaitlistEntry.priority == entry.priority
    if entry.priority:
        return and_(same_rank, joined_before)
    return or_(WaitlistEntry.priority.is_(True), and_(same_rank, joined_before))


def _queue_lock(session: Session, service_id: int) -> None:
    """Serialise joining one service's list, so that every answer's position is exact. SQLite
    needs nothing: `write_session` holds its one writer lock already."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        key = func.hashtext(f"sprechstunde:waitlist:{service_id}")
        connection.execute(select(func.pg_advisory_xact_lock(key)))


def _utc(moment: datetime | str | None) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):  # SQLite returns the aggregate of a text column as text
        return datetime.fromisoformat(moment).replace(tzinfo=UTC)
    return moment.astimezone(UTC)
