"""Alembic environment: the engine comes from the caller (`web.database.migrate`)."""

from __future__ import annotations

from alembic import context

import documents.models  # noqa: F401 - registers the tables on the metadata
import notifications.models  # noqa: F401 - registers the tables on the metadata
import rooms.models  # noqa: F401
import scheduler.models  # noqa: F401
from scheduler.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
