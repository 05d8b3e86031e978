"""video rooms and their invitations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 03:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("opens_at", UTCDateTime(), nullable=True),
        sa.Column("closes_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_rooms_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff.id"],
            name=op.f("fk_rooms_created_by_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_rooms_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_rooms_booking_id")),
    )
    op.create_table(
        "room_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff.id"],
            name=op.f("fk_room_invites_created_by_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_room_invites_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_invites")),
    )
    with op.batch_alter_table("room_invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_invites_room_id"), ["room_id"], unique=False)


def downgrade() -> None:
    op.drop_table("room_invites")
    op.drop_table("rooms")
