"""a displaced citizen waits first in line

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 20:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a default: no table copy on SQLite; everybody waiting keeps
    # their place.
    op.add_column(
        "waitlist_entries",
        sa.Column("priority", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("waitlist_entries", "priority")
