"""booking needs and English service texts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 06:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN, not a batch: on SQLite a batch copies the table and would
    # drop the triggers that refuse overlapping bookings (0001). The server defaults only
    # fill the rows that exist already.
    op.add_column("bookings", sa.Column("interpreter_language", sa.String(length=50)))
    op.add_column(
        "bookings",
        sa.Column("sign_language", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "bookings",
        sa.Column("wheelchair_access", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("services", sa.Column("name_en", sa.String(length=200)))
    op.add_column(
        "services", sa.Column("description_en", sa.Text(), nullable=False, server_default="")
    )


def downgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("description_en")
        batch_op.drop_column("name_en")
    # SQLite (3.35+) drops a column in place, so the booking triggers stay.
    op.drop_column("bookings", "wheelchair_access")
    op.drop_column("bookings", "sign_language")
    op.drop_column("bookings", "interpreter_language")
