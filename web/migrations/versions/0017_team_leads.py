"""teams can be deactivated; a staff member may lead their team

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of `staff` would trip the foreign keys that point at it.
    op.add_column(
        "teams", sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column(
        "staff", sa.Column("team_lead", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("staff", "team_lead")
    op.drop_column("teams", "active")
