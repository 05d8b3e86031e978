"""staff credentials: second factor, recovery codes, password reset links, login challenges

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.db import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _staff_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["staff_id"], ["staff.id"], name=op.f(f"fk_{table}_staff_id_staff"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "staff_second_factors",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=False),
        _staff_key("staff_second_factors"),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff_second_factors")),
    )
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        _staff_key("staff_recovery_codes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_recovery_codes")),
    )
    op.create_index(op.f("ix_staff_recovery_codes_staff_id"), "staff_recovery_codes", ["staff_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        _staff_key("password_resets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index(op.f("ix_password_resets_staff_id"), "password_resets", ["staff_id"])
    op.create_table(
        "login_challenges",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("enrol", sa.Boolean(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        _staff_key("login_challenges"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_login_challenges")),
    )
    op.create_index(op.f("ix_login_challenges_staff_id"), "login_challenges", ["staff_id"])
    op.create_index(op.f("ix_login_challenges_expires_at"), "login_challenges", ["expires_at"])
    op.create_table(
        "second_factor_roles",
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_second_factor_roles")),
    )


def downgrade() -> None:
    op.drop_table("second_factor_roles")
    op.drop_table("login_challenges")
    op.drop_table("password_resets")
    op.drop_table("staff_recovery_codes")
    op.drop_table("staff_second_factors")
