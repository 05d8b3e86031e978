"""The bookings table of the bare floors (bench/floor_app.py, bench/morning_floor_app.py): one
row a booking, a unique (advisor, start) constraint in place of the service's rules."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, UniqueConstraint

metadata = MetaData()
bookings = Table(
    "floor_bookings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("advisor_id", Integer, nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("email", String(320), nullable=False),
    UniqueConstraint("advisor_id", "start_at"),
)
