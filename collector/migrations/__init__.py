"""Alembic migrations of the collector store; run by :func:`pantau.collector.store.open_store`."""
