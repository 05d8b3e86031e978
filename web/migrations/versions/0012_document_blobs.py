"""encrypted documents in the database (the store for several instances)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Only ciphertext is stored (documents/crypto.py); `bytea` on PostgreSQL, BLOB on SQLite.
    op.create_table(
        "document_blobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_blobs")),
    )


def downgrade() -> None:
    op.drop_table("document_blobs")
