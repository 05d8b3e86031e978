"""callback requests (Rückruf) and their attempts; services may open the queue to advisors

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone_key", sa.String(length=50), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_by_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_callback_requests_service_id_services"),
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by_id"],
            ["staff.id"],
            name=op.f("fk_callback_requests_claimed_by_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_callback_requests_booking_id_bookings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff.id"],
            name=op.f("fk_callback_requests_created_by_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_callback_requests_reference")),
    )
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.create_index("ix_callback_requests_queue", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_callback_requests_phone_key_service", ["phone_key", "service_id"], unique=False
        )
        batch_op.create_index(
            "ix_callback_requests_email_key_service", ["email_key", "service_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callback_requests_service_id"), ["service_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_callback_requests_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callback_requests.id"],
            name=op.f("fk_callback_attempts_callback_id_callback_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_callback_attempts_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_callback_attempts_callback_id"), ["callback_id"], unique=False
        )

    # A plain ADD COLUMN, not a batch: a batch would copy `services` on SQLite (see 0004).
    op.add_column(
        "services",
        sa.Column(
            "advisors_take_callbacks", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    # In place (SQLite 3.35+): a batch would copy and drop `services`, which others refer to.
    op.drop_column("services", "advisors_take_callbacks")
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_attempts_callback_id"))
    op.drop_table("callback_attempts")
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_requests_created_at"))
        batch_op.drop_index(batch_op.f("ix_callback_requests_service_id"))
        batch_op.drop_index("ix_callback_requests_email_key_service")
        batch_op.drop_index("ix_callback_requests_phone_key_service")
        batch_op.drop_index("ix_callback_requests_queue")
    op.drop_table("callback_requests")
