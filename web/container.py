"""The long-lived parts of one running application, built from settings by `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from scheduler.accounts import Accounts
from scheduler.catalogue import Catalogue
from scheduler.db import make_sessionmaker, utcnow
from scheduler.desk import Desk
from scheduler.services import Scheduler, SchedulerConfig
from scheduler.tokens import TokenService
from web.database import engine_for
from web.settings import Settings


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    tokens: TokenService
    accounts: Accounts
    scheduler: Scheduler
    catalogue: Catalogue
    desk: Desk

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
        )
        scheduler = Scheduler(sessions, tokens, config, clock=clock)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            tokens=tokens,
            accounts=accounts,
            scheduler=scheduler,
            catalogue=Catalogue(sessions, accounts),
            desk=Desk(scheduler),
        )
