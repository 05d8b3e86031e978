"""advisors may ask for their day's agenda by e-mail

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 17:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a default: no table copy on SQLite, nobody opted in.
    op.add_column(
        "staff",
        sa.Column("agenda_mail", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # In place (SQLite 3.35+): a batch would copy and drop `staff`, which others refer to.
    op.drop_column("staff", "agenda_mail")
