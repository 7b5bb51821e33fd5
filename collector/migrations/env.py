"""Alembic environment: migrate the connection the store hands over, never a URL from a file."""

from __future__ import annotations

from alembic import context

from pantau.collector.schema import metadata

# Several regional collectors may start together on one PostgreSQL: one migrates, the others
# wait on this lock and then find the schema at head.
_PG_LOCK = 0x70616E746175  # "pantau"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
    context.run_migrations()
