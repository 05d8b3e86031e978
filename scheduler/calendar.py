"""Days the office is closed: public holidays of the configured region and extra closures."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from scheduler.models import ClosureDay


@lru_cache(maxsize=64)
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


_CLOSURES = select(ClosureDay.day).where(
    ClosureDay.day >= bindparam("first"), ClosureDay.day <= bindparam("last")
)


def closed_days(
    session: Session, country: str, subdivision: str | None, first: date, last: date
) -> frozenset[date]:
    days: set[date] = set()
    for year in range(first.year, last.year + 1):
        days |= public_holidays(country, subdivision, year)
    # A Core query on the session's connection: every booking asks, and the ORM's per-query
    # bookkeeping costs more than the query.
    days.update(session.connection().scalars(_CLOSURES, {"first": first, "last": last}))
    return frozenset(d for d in days if first <= d <= last)
