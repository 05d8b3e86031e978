"""The callback queue as staff read it: which requests a staff member sees (hotline staff and
administrators the whole queue, an advisor the requests of their own services whose
`advisors_take_callbacks` is set), in the order they are due, a page at a time.
`scheduler/callbacks.py` builds the actions on it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.accounts import StaffIdentity
from scheduler.callbacks_models import PENDING, CallbackRequest, CallbackStatus
from scheduler.callbacks_views import CallbackInfo, QueuePage
from scheduler.db import read_session
from scheduler.errors import PermissionDenied
from scheduler.models import Role, Service, Staff, staff_services

WORKERS = (Role.ADMIN, Role.HOTLINE, Role.ADVISOR)


class CallbackQueue:
    def __init__(self, sessions: sessionmaker[Session], max_queue: int) -> None:
        self._sessions = sessions
        self._max_queue = max_queue

    def queue(
        self,
        actor: StaffIdentity,
        status: CallbackStatus | None = None,
        service_id: int | None = None,
        language: str | None = None,
        limit: int | None = None,
    ) -> list[CallbackInfo]:
        """The requests in `status` (default: open and claimed), the earliest due first."""
        query = self._select().where(*self._queue_filter(actor, status, service_id, language))
        query = query.order_by(CallbackRequest.due_at, CallbackRequest.id).limit(
            min(limit or self._max_queue, self._max_queue)
        )
        with read_session(self._sessions) as session:
            return [
                CallbackInfo.of(row, service, claimer)
                for row, service, claimer in session.execute(query)
            ]

    def queue_page(
        self,
        actor: StaffIdentity,
        service_id: int | None = None,
        language: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> QueuePage:
        """One page of the open and claimed requests, the earliest due first, with how many
        there are in all: two queries on the index (status, due_at), whatever the queue's size."""
        limit = max(1, min(limit, self._max_queue))
        offset = max(0, offset)
        where = self._queue_filter(actor, None, service_id, language)
        counted = select(func.count()).select_from(CallbackRequest).where(*where)
        query = self._select().where(*where)
        query = query.order_by(CallbackRequest.due_at, CallbackRequest.id)
        with read_session(self._sessions) as session:
            total = int(session.scalar(counted) or 0)
            rows = session.execute(query.offset(offset).limit(limit))
            items = tuple(CallbackInfo.of(row, service, claimer) for row, service, claimer in rows)
        return QueuePage(items=items, total=total, offset=offset, limit=limit)

    def takes_callbacks(self, actor: StaffIdentity) -> bool:
        """Whether the staff member works a callback queue at all (for the navigation)."""
        if actor.role in (Role.ADMIN, Role.HOTLINE):
            return True
        if actor.role != Role.ADVISOR:
            return False
        with read_session(self._sessions) as session:
            return session.scalars(self._advisor_services(actor)).first() is not None

    def _queue_filter(
        self,
        actor: StaffIdentity,
        status: CallbackStatus | None,
        service_id: int | None,
        language: str | None,
    ) -> list[ColumnElement[bool]]:
        """The conditions of the queue `actor` may see, filtered (one place for the list and
        its count)."""
        actor.require(*WORKERS)
        where: list[ColumnElement[bool]] = [
            CallbackRequest.status.in_([status] if status else PENDING)
        ]
        if actor.role == Role.ADVISOR:
            if not self.takes_callbacks(actor):
                raise PermissionDenied(role=actor.role.value)
            where.append(CallbackRequest.service_id.in_(self._advisor_services(actor)))
        if service_id is not None:
            where.append(CallbackRequest.service_id == service_id)
        if language is not None:
            where.append(CallbackRequest.language == language)
        return where

    def _select(self) -> Select[CallbackRequest, str, str | None]:
        return (
            select(CallbackRequest, Service.name, Staff.name)
            .join(Service, Service.id == CallbackRequest.service_id)
            .outerjoin(Staff, Staff.id == CallbackRequest.claimed_by_id)
        )

    def _advisor_services(self, actor: StaffIdentity) -> Select[Any]:
        return (
            select(staff_services.c.service_id)
            .join(Service, Service.id == staff_services.c.service_id)
            .where(
                staff_services.c.staff_id == actor.id,
                Service.advisors_take_callbacks.is_(True),
            )
        )
