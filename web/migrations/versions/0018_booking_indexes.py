"""indexes the booking path was missing: the per-person cap's count, and the references to a
booking that its deletion must find

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 19:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_bookings_person_open", "bookings", ["email_key", "service_id", "status", "start_at"]
    )
    op.drop_index("ix_bookings_email_service", table_name="bookings")
    op.create_index("ix_audit_log_booking_id", "audit_log", ["booking_id"])
    op.create_index("ix_callback_requests_booking_id", "callback_requests", ["booking_id"])


def downgrade() -> None:
    op.drop_index("ix_callback_requests_booking_id", table_name="callback_requests")
    op.drop_index("ix_audit_log_booking_id", table_name="audit_log")
    op.create_index("ix_bookings_email_service", "bookings", ["email_key", "service_id"])
    op.drop_index("ix_bookings_person_open", table_name="bookings")
