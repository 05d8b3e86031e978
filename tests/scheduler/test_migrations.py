"""The Alembic migrations build exactly the schema the models describe: autogenerate, run
against a migrated database, finds nothing to do (on SQLite, and on PostgreSQL when
SPRECHSTUNDE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table

import notifications.models  # noqa: F401 - registers the tables on the metadata
import rooms.models  # noqa: F401
import scheduler.models  # noqa: F401
from scheduler.db import Base


def differences(engine: Engine, metadata: MetaData) -> list[Any]:
    # As web/migrations/env.py configures autogenerate: column types compared, server defaults
    # not (0002 adds `staff.feed_version` with one, only to fill the existing rows).
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_the_migrations_produce_the_models_schema(engine: Engine) -> None:
    assert differences(engine, Base.metadata) == []


def test_a_model_change_without_a_migration_is_noticed(engine: Engine) -> None:
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    Table("room_notes", metadata, Column("id", Integer, primary_key=True))
    metadata.tables["rooms"].append_column(Column("topic", String(50)))

    found = differences(engine, metadata)

    assert sorted(d[0] for d in found) == ["add_column", "add_table"]
