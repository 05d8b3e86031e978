"""the statistics' counters: who cancelled, searches' waits, purged callbacks and waiting list

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.db import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _service_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["service_id"], ["services.id"], name=op.f(f"fk_{table}_service_id_services")
    )


def upgrade() -> None:
    op.create_table(
        "booking_cancellers",
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("cancelled_by", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_cancellers_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_booking_cancellers")),
    )
    op.create_table(
        "stats_search_waits",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("wait_days", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _service_key("stats_search_waits"),
        sa.PrimaryKeyConstraint(
            "service_id", "day", "channel", "wait_days", name=op.f("pk_stats_search_waits")
        ),
    )
    op.create_table(
        "stats_callbacks",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("attempted", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("first_attempt_seconds", sa.BigInteger(), nullable=False),
        _service_key("stats_callbacks"),
        sa.PrimaryKeyConstraint("service_id", "hour", name=op.f("pk_stats_callbacks")),
    )
    op.create_table(
        "stats_waitlist",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("offered", sa.Integer(), nullable=False),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("offer_seconds", sa.BigInteger(), nullable=False),
        _service_key("stats_waitlist"),
        sa.PrimaryKeyConstraint("service_id", "hour", "channel", name=op.f("pk_stats_waitlist")),
    )

    op.create_index(
        "ix_bookings_statistics",
        "bookings",
        ["start_at", "service_id", "status", "channel", "created_by_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_statistics", table_name="bookings")
    op.drop_table("stats_waitlist")
    op.drop_table("stats_callbacks")
    op.drop_table("stats_search_waits")
    op.drop_table("booking_cancellers")
