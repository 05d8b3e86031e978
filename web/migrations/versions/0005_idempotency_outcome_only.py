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
    # The transport decides the status of a replayed answer; every stored one was 201. Expand
    # only: instances of the previous release still write and read the column during a rolling
    # upgrade, so it stays, filled by a default, until a later release drops it.
    with op.batch_alter_table("idempotency_records") as table:
        table.alter_column("status_code", existing_type=sa.Integer(), server_default="201")


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records") as table:
        table.alter_column("status_code", existing_type=sa.Integer(), server_default=None)
