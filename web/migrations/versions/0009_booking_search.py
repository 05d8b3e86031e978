"""the staff search over bookings (a folded search key) and staff notes on a booking

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 16:45:00.000000
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from scheduler.search import search_key

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
_BATCH = 1000


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: a batch copies the table on SQLite and would drop the
    # triggers that refuse overlapping bookings (0001).
    op.add_column(
        "bookings",
        sa.Column("search_key", sa.String(length=1000), nullable=False, server_default=""),
    )
    op.add_column("bookings", sa.Column("staff_notes", sa.JSON(), nullable=True))
    _backfill()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _trigrams(bind):
        op.create_index(
            "ix_bookings_search_key",
            "bookings",
            ["search_key"],
            postgresql_using="gin",
            postgresql_ops={"search_key": "gin_trgm_ops"},
        )
    else:
        op.create_index("ix_bookings_search_key", "bookings", ["search_key"])


def _trigrams(bind: sa.Connection) -> bool:
    """Whether pg_trgm is there or can be created (a trusted extension since PostgreSQL 13:
    the database's owner may). Without it the index is a plain one and searches scan."""
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        log.warning("pg_trgm is not available: the booking search will scan the table")
        return False
    return True


def _backfill() -> None:
    bind = op.get_bind()
    bookings = sa.table(
        "bookings",
        sa.column("id", sa.Integer),
        sa.column("reference", sa.String),
        sa.column("name", sa.String),
        sa.column("email", sa.String),
        sa.column("phone", sa.String),
        sa.column("search_key", sa.String),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(
                bookings.c.id,
                bookings.c.reference,
                bookings.c.name,
                bookings.c.email,
                bookings.c.phone,
            )
            .where(bookings.c.id > last, bookings.c.name != "")
            .order_by(bookings.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            sa.update(bookings)
            .where(bookings.c.id == sa.bindparam("row_id"))
            .values(search_key=sa.bindparam("key")),
            [
                {"row_id": row.id, "key": search_key(row.reference, row.name, row.email, row.phone)}
                for row in rows
            ],
        )
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_bookings_search_key", table_name="bookings")
    # SQLite (3.35+) drops a column in place, so the booking triggers stay.
    op.drop_column("bookings", "staff_notes")
    op.drop_column("bookings", "search_key")
