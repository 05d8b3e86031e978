"""The floor of the booking burst (bench/booking_burst.py --floor): a bare FastAPI app that
validates the same JSON body as `POST /api/v1/bookings` (web.schemas.BookingIn) and does one
INSERT into a table with a unique (advisor, start) constraint, on SQLite in WAL mode or on
PostgreSQL. No slot search, no rules, no token, no mail: what any booking costs at least on
this machine, with this web stack.

    FLOOR_DATABASE_URL=sqlite:///floor.db python -m uvicorn bench.floor_app:app --port 8001
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import (
    Engine,
    create_engine,
    event,
    insert,
)
from sqlalchemy.exc import IntegrityError

from bench.floor_schema import bookings, metadata
from web.schemas import BookingIn


def _engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=20, max_overflow=20)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=5000")

    metadata.create_all(engine)
    return engine


engine = _engine(os.environ.get("FLOOR_DATABASE_URL", "sqlite:///floor.db"))
app = FastAPI()


@app.post("/api/v1/bookings", status_code=201)
def book(body: BookingIn) -> JSONResponse:
    # One advisor per service: the burst asks for each (service, start) once, so a correct
    # floor answers 201 to every request, as the service does.
    advisor = body.service_id
    try:
        with engine.begin() as connection:
            row: int = connection.execute(
                insert(bookings)
                .values(advisor_id=advisor, start_at=body.start, email=body.email)
                .returning(bookings.c.id)
            ).scalar_one()
    except IntegrityError:
        return JSONResponse({"code": "slot_taken"}, status_code=409)
    return JSONResponse({"id": row, "start": body.start.isoformat()}, status_code=201)
