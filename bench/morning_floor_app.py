"""The floor of the morning release (bench/morning_release.py --floor): a bare FastAPI app
that answers the two requests of the morning as simply as is correct, on PostgreSQL.

* `GET /api/v1/services/{id}/slots?start=…&end=…&channel=…`: one SELECT of the released
  times that fewer than `FLOOR_ADVISORS` bookings hold, every time, as JSON in the
  service's shape (`{"slots": [{"start": …}]}`).
* `POST /api/v1/bookings`: the same JSON body as the service's (web.schemas.BookingIn), then
  one INSERT that takes a free advisor at that time, under a unique (advisor, start)
  constraint; 409 when none is free.

No rules, no search cache, no token, no mail, no log: what the morning's requests cost at least
on this machine, with this web stack, behind the same proxy.

    FLOOR_DATABASE_URL=postgresql+psycopg://… python -m uvicorn bench.morning_floor_app:app
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from sqlalchemy import (
    Column,
    DateTime,
    Table,
    create_engine,
    text,
)

from bench.floor_schema import metadata
from web.schemas import BookingIn

# The times the administrator has released: empty until the release.
times = Table(
    "morning_times", metadata, Column("start_at", DateTime(timezone=True), primary_key=True)
)

ADVISORS = int(os.environ.get("FLOOR_ADVISORS", "10"))
FREE_TIMES = text(
    "SELECT t.start_at FROM morning_times t"
    " LEFT JOIN floor_bookings b ON b.start_at = t.start_at"
    " WHERE t.start_at >= :first AND t.start_at < :after"
    " GROUP BY t.start_at HAVING count(b.id) < :advisors ORDER BY t.start_at"
)
# A free advisor at a released time; two requests may pick the same one, and the loser
# inserts nothing (ON CONFLICT) and tries again.
TAKE = text(
    "INSERT INTO floor_bookings (advisor_id, start_at, email)"
    " SELECT a, :start, :email FROM generate_series(1, :advisors) a"
    " WHERE EXISTS (SELECT 1 FROM morning_times WHERE start_at = :start)"
    " AND NOT EXISTS (SELECT 1 FROM floor_bookings b WHERE b.advisor_id = a"
    " AND b.start_at = :start)"
    " ORDER BY random() LIMIT 1 ON CONFLICT DO NOTHING RETURNING id"
)
STILL_FREE = text(
    "SELECT EXISTS (SELECT 1 FROM morning_times WHERE start_at = :start)"
    " AND (SELECT count(*) FROM floor_bookings WHERE start_at = :start) < :advisors"
)
BERLIN = ZoneInfo("Europe/Berlin")

engine = create_engine(
    os.environ.get("FLOOR_DATABASE_URL", "postgresql+psycopg:///morning_floor"),
    pool_size=20,
    max_overflow=20,
)
metadata.create_all(engine)
app = FastAPI()


@app.get("/readyz")
def ready() -> Response:
    return Response("ok")


@app.get("/api/v1/services/{service_id}/slots")
def slots(service_id: int, start: date, end: date, channel: str = "video") -> JSONResponse:
    first = datetime.combine(start, time(), tzinfo=BERLIN)
    after = datetime.combine(end + timedelta(days=1), time(), tzinfo=BERLIN)
    with engine.connect() as connection:
        starts: list[datetime] = list(
            connection.execute(
                FREE_TIMES, {"first": first, "after": after, "advisors": ADVISORS}
            ).scalars()
        )
    return JSONResponse({"slots": [{"start": start.isoformat()} for start in starts]})


@app.post("/api/v1/bookings", status_code=201)
def book(body: BookingIn) -> JSONResponse:
    given = {"start": body.start, "email": body.email, "advisors": ADVISORS}
    for _ in range(3):
        with engine.begin() as connection:
            row = connection.execute(TAKE, given).scalar()
            if row is not None:
                return JSONResponse({"id": row, "start": body.start.isoformat()}, status_code=201)
            if not connection.execute(STILL_FREE, given).scalar():
                break
    return JSONResponse({"code": "slot_unavailable"}, status_code=409)
