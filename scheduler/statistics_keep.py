"""Writing the statistics' counters (scheduler/statistics_models.py).

* Who cancelled a booking is written by an event listener in the cancellation's transaction.
* The wait to the first free slot a citizen saw is counted per search (`SearchWaits`), in
  memory, and added to the table at most a minute later: a search is a read, and a write
  transaction per search would queue every citizen behind SQLite's single writer.
* Callback requests and waiting-list entries are folded into counters by the retention purge
  in the transaction that deletes them (`keep_callbacks`, `keep_waitlist_entries`, called by
  scheduler/callbacks_retention.py and scheduler/waitlist_retention.py). The statistics read
  the counters plus the rows still there: a row is either one or the other, never both.
  Whoever deletes such rows elsewhere (a citizen's erasure) calls these first.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, CursorResult, Delete, Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from scheduler.availability import Slot
from scheduler.callbacks_models import AttemptOutcome, CallbackAttempt, CallbackRequest
from scheduler.db import Base, write_session
from scheduler.events import BookingEvent, BookingEventKind
from scheduler.statistics_models import (
    BookingCanceller,
    CallbackTally,
    SearchWait,
    WaitlistTally,
)
from scheduler.waitlist_models import OfferStatus, WaitlistEntry, WaitlistOffer

log = logging.getLogger(__name__)

NO_SLOT = -1  # SearchWait.wait_days of a search that found nothing
FLUSH_SECONDS = 60.0


class seconds(FunctionElement[int]):
    """POSIX seconds of a `UTCDateTime` column, as `scheduler.db.epoch` gives them, but with
    SQLite's `unixepoch()` where it has one (3.38 on): several times faster than `strftime`
    over a year of bookings. Both drop the fraction of a second."""

    type = BigInteger()
    inherit_cache = True


@compiles(seconds, "sqlite")
def _seconds_sqlite(element: seconds, compiler: Any, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    if sqlite3.sqlite_version_info >= (3, 38):
        return f"unixepoch({inner})"
    return f"CAST(strftime('%s', {inner}) AS INTEGER)"


@compiles(seconds)
def _seconds_default(element: seconds, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS BIGINT)"


def canceller(event: BookingEvent) -> str:
    if event.cause is not None:
        return "office"
    return "citizen" if event.actor_id is None else "staff"


def record_canceller(session: Session, event: BookingEvent) -> None:
    """An `EventHub` listener."""
    if event.kind == BookingEventKind.CANCELLED:
        session.merge(BookingCanceller(booking_id=event.booking.id, cancelled_by=canceller(event)))


def add(session: Session, table: Table, keys: dict[str, Any], counts: dict[str, int]) -> None:
    """Add `counts` to the row of `keys`, creating it: one statement that two processes may
    run at once without losing either's counts."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(**keys, **counts)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in counts},
    )
    session.execute(statement)


def _hour(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds - seconds % 3600, UTC)


# Times are read as the database's POSIX seconds, as the statistics read the live rows: the
# counters then add up to exactly what the rows gave (PostgreSQL rounds fractions of seconds).


def keep_callbacks(session: Session, request_ids: Sequence[int]) -> list[int]:
    """Fold these callback requests and their attempts into `stats_callbacks`; the caller
    deletes them in this transaction. Locks them first: requests another process folded and
    deleted meanwhile are not there any more, and are not counted twice. The ids folded."""
    requests = session.execute(
        select(
            CallbackRequest.id,
            CallbackRequest.service_id,
            seconds(CallbackRequest.created_at),
            CallbackRequest.booking_id,
        )
        .where(CallbackRequest.id.in_(request_ids))
        .order_by(CallbackRequest.id)
        .with_for_update()
    ).all()
    found = [r[0] for r in requests]
    first: dict[int, int] = {}
    reached: set[int] = set()
    for callback_id, at, outcome in session.execute(
        select(
            CallbackAttempt.callback_id, seconds(CallbackAttempt.at), CallbackAttempt.outcome
        ).where(CallbackAttempt.callback_id.in_(found))
    ):
        first[callback_id] = min(first.get(callback_id, at), at)
        if outcome == AttemptOutcome.REACHED:
            reached.add(callback_id)
    tallies: dict[tuple[int, datetime], Counter[str]] = {}
    for callback_id, service_id, created, booking_id in requests:
        tally = tallies.setdefault((service_id, _hour(created)), Counter())
        tally["requests"] += 1
        tally["booked"] += booking_id is not None
        if callback_id in first:
            tally["attempted"] += 1
            tally["reached"] += callback_id in reached
            tally["first_attempt_seconds"] += first[callback_id] - created
    names = ("requests", "attempted", "reached", "booked", "first_attempt_seconds")
    for (service_id, hour), tally in tallies.items():
        keys = {"service_id": service_id, "hour": hour}
        add(session, _table(CallbackTally), keys, {n: tally[n] for n in names})
    return found


def keep_waitlist_entries(session: Session, entry_ids: Sequence[int]) -> list[int]:
    """As `keep_callbacks`, for waiting-list entries and their offers."""
    entries = session.execute(
        select(
            WaitlistEntry.id,
            WaitlistEntry.service_id,
            WaitlistEntry.channel,
            seconds(WaitlistEntry.created_at),
        )
        .where(WaitlistEntry.id.in_(entry_ids))
        .order_by(WaitlistEntry.id)
        .with_for_update()
    ).all()
    found = [e[0] for e in entries]
    first: dict[int, int] = {}
    offers: Counter[int] = Counter()
    accepted: Counter[int] = Counter()
    for entry_id, at, status in session.execute(
        select(
            WaitlistOffer.entry_id, seconds(WaitlistOffer.created_at), WaitlistOffer.status
        ).where(WaitlistOffer.entry_id.in_(found))
    ):
        first[entry_id] = min(first.get(entry_id, at), at)
        offers[entry_id] += 1
        accepted[entry_id] += status == OfferStatus.ACCEPTED
    tallies: dict[tuple[int, datetime, str], Counter[str]] = {}
    for entry_id, service_id, channel, created in entries:
        tally = tallies.setdefault((service_id, _hour(created), channel), Counter())
        tally["entries"] += 1
        tally["offers"] += offers[entry_id]
        tally["accepted"] += accepted[entry_id]
        if entry_id in first:
            tally["offered"] += 1
            tally["offer_seconds"] += first[entry_id] - created
    names = ("entries", "offered", "offers", "accepted", "offer_seconds")
    for (service_id, hour, channel), tally in tallies.items():
        keys = {"service_id": service_id, "hour": hour, "channel": channel}
        add(session, _table(WaitlistTally), keys, {n: tally[n] for n in names})
    return found


def delete_rows(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it deleted."""
    options = {"synchronize_session": False}
    result = cast("CursorResult[Any]", session.execute(statement, execution_options=options))
    return int(result.rowcount)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


class SearchWaits:
    """Counts, per service, local day and channel, how far ahead citizens' searches found the
    first free slot. Only the counts are kept: no address, no time of the search."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        tz: ZoneInfo,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._tz = tz
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pending: Counter[tuple[int, date, str, int]] = Counter()
        self._since = monotonic()

    def seen(
        self,
        service_id: int,
        channel: str | None,
        first: date,
        last: date,
        now: datetime,
        found: Sequence[Slot],
        may_write: bool = True,
    ) -> None:
        """Count a search from `first` to `last` that found `found`: only a look for the next
        free time (from today, over more than one day), not at a day picked in the calendar.
        The counts are written every minute, by a search that `may_write`."""
        today = now.astimezone(self._tz).date()
        if first != today or last <= first:
            return
        wait = NO_SLOT if not found else (found[0].start - now) // timedelta(days=1)
        key = (service_id, today, channel or "", wait)
        with self._lock:
            self._pending[key] += 1
            due = self._monotonic() - self._since >= FLUSH_SECONDS
        if due and may_write:
            try:
                self.flush()
            except Exception:  # a lost minute of counts must not fail a citizen's search
                log.exception("could not write the search counts; kept for the next try")

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._since = self._monotonic()
        if not pending:
            return
        try:
            with write_session(self._sessions) as session:
                for (service_id, day, channel, wait), count in sorted(pending.items()):
                    keys = {
                        "service_id": service_id,
                        "day": day,
                        "channel": channel,
                        "wait_days": wait,
                    }
                    add(session, _table(SearchWait), keys, {"count": count})
        except Exception:
            with self._lock:
                self._pending.update(pending)
            raise
