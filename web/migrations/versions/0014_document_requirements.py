"""the documents a service names, which of them an upload is, and the counts kept after erasure

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 23:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_documents_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_documents")),
    )
    op.create_index(
        op.f("ix_service_documents_service_id"), "service_documents", ["service_id"], unique=False
    )
    # A foreign key cannot be added to an existing SQLite table: batch mode copies the table
    # (a young one, small everywhere), PostgreSQL alters it in place.
    with op.batch_alter_table("booking_documents") as batch:
        batch.add_column(sa.Column("requirement_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_booking_documents_requirement_id_service_documents"),
            "service_documents",
            ["requirement_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "document_tallies",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_document_tallies_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", "week", "status", name=op.f("pk_document_tallies")),
    )


def downgrade() -> None:
    op.drop_table("document_tallies")
    with op.batch_alter_table("booking_documents") as batch:
        batch.drop_constraint(
            op.f("fk_booking_documents_requirement_id_service_documents"), type_="foreignkey"
        )
        batch.drop_column("requirement_id")
    op.drop_index(op.f("ix_service_documents_service_id"), table_name="service_documents")
    op.drop_table("service_documents")
