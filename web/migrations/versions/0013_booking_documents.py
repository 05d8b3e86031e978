"""the documents handed in for a booking (pending, clean or rejected)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table: no copy of an existing one on SQLite. The bytes live in the document store
    # (`blob_id`); deleting a booking deletes its records, the purge deletes the blobs too.
    op.create_table(
        "booking_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("signature", sa.String(length=200), nullable=True),
        sa.Column("scan_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("scanned_at", UTCDateTime(), nullable=True),
        sa.Column("checked_by_id", sa.Integer(), nullable=True),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'clean', 'rejected')",
            name=op.f("ck_booking_documents_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_documents_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["checked_by_id"],
            ["staff.id"],
            name=op.f("fk_booking_documents_checked_by_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_documents")),
        sa.UniqueConstraint("blob_id", name=op.f("uq_booking_documents_blob_id")),
    )
    op.create_index(
        op.f("ix_booking_documents_booking_id"), "booking_documents", ["booking_id"], unique=False
    )
    op.create_index(
        "ix_booking_documents_status_created",
        "booking_documents",
        ["status", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_booking_documents_status_created", table_name="booking_documents")
    op.drop_index(op.f("ix_booking_documents_booking_id"), table_name="booking_documents")
    op.drop_table("booking_documents")
