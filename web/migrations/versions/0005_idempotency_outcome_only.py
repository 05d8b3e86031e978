"""idempotency records keep the outcome, not an HTTP status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The transport decides the status of a replayed answer; every stored one was 201.
    # SQLite (3.35+) drops a column in place: no batch copy of the table needed.
    op.drop_column("idempotency_records", "status_code")


def downgrade() -> None:
    op.add_column(
        "idempotency_records",
        sa.Column("status_code", sa.Integer(), nullable=False, server_default="201"),
    )
