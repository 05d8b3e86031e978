"""Days the office is closed: public holidays of the configured region and extra closures."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.models import ClosureDay


@lru_cache(maxsize=64)
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def closed_days(
    session: Session, country: str, subdivision: str | None, first: date, last: date
) -> frozenset[date]:
    days: set[date] = set()
    for year in range(first.year, last.year + 1):
        days |= public_holidays(country, subdivision, year)
    days.update(
        session.scalars(
            select(ClosureDay.day).where(ClosureDay.day >= first, ClosureDay.day <= last)
        )
    )
    return frozenset(d for d in days if first <= d <= last)
