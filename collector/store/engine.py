"""The store's database: an engine for a configured URL, the schema's migration, failures' words.

SQLite (WAL) by default, PostgreSQL through psycopg 3; one schema (:mod:`pantau.collector.schema`)
migrated by Alembic (:mod:`pantau.collector.migrations`).
"""

from __future__ import annotations

import sys
from importlib import resources

import alembic.command
import alembic.config
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from pantau.errors import MissingExtra, StoreError
from pantau.files import owner_only


def engine_url(url: str) -> sa.URL:
    """The SQLAlchemy URL for a configured one: ``postgresql://`` means psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets the API read while ingest writes; NORMAL is durable across process crashes.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    # Checkpoint every ~40 MB of WAL rather than 4 MB: a page of 1,000 events is ~0.5 MB, and
    # each checkpoint costs an fsync (bench/collector_ingest: -20% time per ingested page).
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.close()


def create_engine(url: str) -> Engine:
    """An engine over ``url`` (``sqlite:///PATH`` or ``postgresql://...``); nothing is read.

    A SQLite file is made owner-only (it holds the network map) before anything is written.

    Raises
    ------
    StoreError
        When the URL names no usable driver.
    """
    parsed = engine_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                owner_only(parsed.database)  # the network map: never world-readable
            engine = sa.create_engine(parsed)
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(parsed, pool_pre_ping=True)
    except sa.exc.SQLAlchemyError as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise StoreError(f"store {shown}: cannot open or migrate: {detail(exc)}") from exc
    except ModuleNotFoundError as exc:
        raise MissingExtra.of(exc, sys.executable) or StoreError(
            f"store: driver {exc.name} missing"
        ) from exc
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration (a no-op when already there)."""
    config = alembic.config.Config()
    config.set_main_option("script_location", str(resources.files("pantau.collector.migrations")))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic.command.upgrade(config, "head")


def detail(exc: BaseException) -> str:
    """The driver's own words, first line only (PostgreSQL adds a caret drawing)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
