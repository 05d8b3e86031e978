"""What statistics keep of erased documents: counts per service, week and final status, added
up in the transaction that deletes the records (`DocumentTally`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from documents.models import DocumentTally


def week_of(start: datetime) -> date:
    day = start.date()
    return day - timedelta(days=day.weekday())


def add_to_tallies(session: Session, erased: Iterable[tuple[int, datetime, str]]) -> None:
    """Count these (service id, appointment start, status) of documents about to go. An
    upsert: processes purging at once on PostgreSQL add to the same rows without a conflict."""
    counts = Counter((service_id, week_of(start), status) for service_id, start, status in erased)
    if not counts:
        return
    rows = [
        {"service_id": service_id, "week": week, "status": status, "count": count}
        for (service_id, week, status), count in sorted(counts.items())
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DocumentTally).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[DocumentTally.service_id, DocumentTally.week, DocumentTally.status],
        set_={"count": DocumentTally.count + statement.excluded["count"]},
    )
    session.execute(statement)
