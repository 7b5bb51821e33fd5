"""The collector store: raw events, cursors, agent reachability, outages, maintenance windows.

SQLite (WAL) by default, PostgreSQL through psycopg 3, one schema (:mod:`.schema`) migrated by
Alembic at open. Every database failure becomes :class:`~pantau.errors.StoreError` naming the
operation; a failed write rolls back whole, so a retry neither loses nor repeats anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import operator
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import alembic.command
import alembic.config
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from pantau.collector.audit import AuditRecord
from pantau.collector.availability import Maintenance
from pantau.collector.health import StoreHealth
from pantau.collector.outages import Outage
from pantau.collector.schema import (
    agent_status,
    audit,
    cursors,
    dirty_sites,
    events,
    maintenance,
    outages,
)
from pantau.errors import MissingExtra, StoreError
from pantau.events import OBSERVING, Event
from pantau.files import owner_only

log = logging.getLogger(__name__)

#: Times every answer can show (RFC 3339 with a four-digit year): 1970 to 9998.
_LOWEST, _HIGHEST = 0.0, 253370764800.0

#: Event columns in the order of :class:`Event`'s fields, so a row builds an Event directly.
_EVENT_COLUMNS = (
    "agent",
    "type",
    "site",
    "probe",
    "old",
    "new",
    "time",
    "reason",
    "isolated",
    "hop",
    "cursor",
)
_INSERT_COLUMNS = ("log_id", *_EVENT_COLUMNS)
_event_fields = operator.attrgetter(*_EVENT_COLUMNS)
#: Stored event times outside this range are not read back: they cannot be rendered (years
#: 1 to 9999 UTC). Ingest refuses them (pagecheck); a store written before it may hold some.
SANE_TIMES = (-62135596800.0, 253402300799.0)


def fit(text: str | None, width: int) -> str | None:
    """``text`` made to fit a column of ``width`` characters, still unique (hash suffix).

    An HTTP probe's URL may be longer than the ``probe`` column; PostgreSQL would refuse the row
    and, with it, the whole page. The shortened value keeps its start and a digest of the rest.
    """
    if text is None or len(text) <= width:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[: width - 17]}~{digest}"


def _row(segment: str, e: Event) -> tuple[object, ...]:
    agent, type_, site, probe, old, new, t, reason, isolated, hop, cursor = _event_fields(e)
    return (
        segment,
        agent,
        type_,
        site,
        fit(probe, 512),
        old,
        new,
        t,
        reason,
        isolated,
        fit(hop, 256),
        cursor,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Cursor:
    """Where the collector is in one agent's event log."""

    source: str
    agent: str
    log_id: str
    next: int
    updated: float
    missed: int = 0  # events counted lost (all reasons); added to the stored count
    segment: str = ""  # the log_id events are stored under; "" means ``log_id``
    went_back: int = 0  # of ``missed``, lost to a log that went back; added to the stored count

    @property
    def key(self) -> str:
        """The log id this reader's events are stored under."""
        return self.segment or self.log_id


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


class Store:
    """The outage store over one engine. Build it with :func:`open_store`."""

    def __init__(self, engine: Engine, collector: str = "") -> None:
        self.engine = engine
        #: This collector's name (``[collector] name``): its cursors and dirty sites are its own.
        self.collector = collector
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self.name = engine.url.render_as_string(hide_password=True)
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        path = None if path in (None, "", ":memory:") else path
        #: Failing writes, for /healthz and pantau_collector_store_up.
        self.health = StoreHealth(self.name, str(Path(path).resolve()) if path else None)
        # Sites this process marked in a committed transaction and no derivation unmarked yet:
        # marking them again is a no-op, and skipping it halves the rows ingest writes.
        self._marked: set[str] = set()
        mark = "%s" if engine.dialect.paramstyle in ("format", "pyformat") else "?"
        self._insert_events_sql = (
            f"INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(_INSERT_COLUMNS))}) "
            "ON CONFLICT (agent, log_id, cursor) DO NOTHING"
        )
        self._mark_sql = (
            f"INSERT INTO dirty_sites (collector, site) VALUES ({mark}, {mark}) "
            "ON CONFLICT DO NOTHING"
        )

    @contextlib.contextmanager
    def _tx(self, operation: str, write: str | None = None) -> Iterator[Connection]:
        """One transaction; ``write`` names the kind of write, reported to :attr:`health`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            detail = _detail(exc)
            if write:
                self.health.failed(write, operation, detail, time.time())
            raise StoreError(
                f"store {self.name}: {operation} failed: {detail}; nothing of it was written"
            ) from exc
        if write:
            self.health.succeeded(write)

    def open(self) -> None:
        """Create the SQLite file's folder and migrate the schema to the newest revision.

        A failure is reported to :attr:`health` (write kind ``open``) until it works.

        Raises
        ------
        StoreError
            When the database cannot be reached, created or migrated; the message says which.
        """
        database = self.engine.url.database
        try:
            if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            migrate(self.engine)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            detail = _detail(exc)
            self.health.failed("open", "opening and migrating the store", detail, time.time())
            raise StoreError(f"store {self.name}: cannot open or migrate: {detail}") from exc
        self.health.succeeded("open")

    def close(self) -> None:
        self.engine.dispose()

    # -- events and cursors ---------------------------------------------------------------

    def ingest(
        self,
        source: str,
        agent: str,
        log_id: str,
        batch: Sequence[Event],
        next_cursor: int,
        *,
        now: float,
        missed: int = 0,
        segment: str = "",
    ) -> int:
        """Store a page of events and the cursor after it in one transaction.

        Events are stored under ``segment`` (default ``log_id``); those already stored (same
        agent, segment, cursor) are skipped. Sites they concern are
        marked for outage derivation; an agent event marks every site that agent reported.

        Returns
        -------
        int
            Events newly stored.
        """
        rows = [_row(segment or log_id, e) for e in batch]
        # Power evidence marks its site too: another agent's late evidence of a UPS site can
        # change the cause of an outage of a site it powers (inventory ``ups``, issue 16).
        sites = {e.site for e in batch if (e.type == "site" or e.evidence) and e.site}
        with self._tx(f"storing {len(rows)} events from {source}", f"ingest {source}") as conn:
            stored = 0
            if rows:
                # The hot path: the driver's executemany on fixed SQL. SQLAlchemy's per-row
                # parameter processing cost more than the insert itself (bench/collector_ingest).
                stored = conn.exec_driver_sql(self._insert_events_sql, rows).rowcount
            changes = [e for e in batch if e.type == "agent" and not e.checkpoint]
            beats = [e.time for e in batch if e.type == "agent" and e.checkpoint]
            # A checkpoint changes a decision only inside a period this collector could not
            # reach the agent (docs/contracts.md); elsewhere re-deriving every site is waste.
            if changes or (beats and self._down_during(conn, agent, beats)):
                sites |= self._sites_of(conn, agent)
            self._mark(conn, sites - self._marked)
            cursor = Cursor(source, agent, log_id, next_cursor, now, missed, segment or log_id)
            self._put_cursor(conn, cursor)
        self._marked |= sites
        return stored

    def _down_during(self, conn: Connection, agent: str, times: Sequence[float]) -> bool:
        """Whether any of ``times`` falls in a period this collector could not reach ``agent``."""
        q = (
            sa.select(agent_status.c.time, agent_status.c.up)
            .where(agent_status.c.collector == self.collector, agent_status.c.agent == agent)
            .order_by(agent_status.c.time)
        )
        periods = _periods(conn.execute(q))
        return any(s <= t and (e is None or t < e) for s, e in periods for t in times)

    def _sites_of(self, conn: Connection, agent: str) -> set[str]:
        q = sa.select(events.c.site).where(events.c.agent == agent, events.c.type == "site")
        return set(conn.scalars(q.distinct()))

    def _mark(self, conn: Connection, sites: Iterable[str]) -> None:
        rows = [(self.collector, s) for s in sorted(sites)]
        if rows:
            conn.exec_driver_sql(self._mark_sql, rows)

    def _put_cursor(self, conn: Connection, cur: Cursor) -> None:
        values = {**dataclasses.asdict(cur), "segment": cur.key, "collector": self.collector}
        stmt = self._insert(cursors).values(values)
        update: dict[str, Any] = {
            k: stmt.excluded[k] for k in values if k not in ("source", "collector")
        }
        update["missed"] = cursors.c.missed + stmt.excluded.missed
        update["went_back"] = cursors.c.went_back + stmt.excluded.went_back
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["collector", "source"], set_=update)
        )

    def put_cursor(self, cur: Cursor) -> None:
        """Move this collector's cursor of ``cur.source`` (a log that went back, an identity
        accepted); ``cur.missed`` and ``cur.went_back`` add to the events counted lost."""
        with self._tx(f"moving the cursor of {cur.source}", f"ingest {cur.source}") as conn:
            self._put_cursor(conn, cur)

    def cursors(self) -> dict[str, Cursor]:
        """This collector's cursor of every agent, by source URL.

        A source this collector has no cursor of starts from the one of a schema before
        per-collector cursors (collector ``""``), if any.
        """
        q = sa.select(cursors).where(cursors.c.collector.in_(["", self.collector]))
        out: dict[str, Cursor] = {}
        with self._tx("reading cursors") as conn:
            for r in conn.execute(q.order_by(cursors.c.collector == self.collector)):
                m = r._mapping
                fields = {f.name: m[f.name] for f in dataclasses.fields(Cursor)}
                out[m["source"]] = Cursor(**fields)
        return out

    def event_at(self, agent: str, log_id: str, cursor: int) -> Event | None:
        """The event stored at ``cursor`` of ``agent``'s log ``log_id`` (any of its segments),
        the newest segment's if several; None when not stored."""
        cols = [events.c[c] for c in _EVENT_COLUMNS]
        q = (
            sa.select(*cols)
            .where(
                events.c.agent == agent,
                events.c.cursor == cursor,
                sa.or_(events.c.log_id == log_id, events.c.log_id.startswith(f"{log_id}.")),
            )
            .order_by(events.c.id.desc())
            .limit(1)
        )
        with self._tx("reading an event") as conn:
            row = conn.execute(q).first()
        return None if row is None else Event(*row)

    def site_event_counts(self) -> dict[tuple[str, str], int]:
        """Stored site events per (agent, site): what waits for sites not in the inventory."""
        q = (
            sa.select(events.c.agent, events.c.site, sa.func.count())
            .where(events.c.type == "site")
            .group_by(events.c.agent, events.c.site)
        )
        with self._tx("counting events per site") as conn:
            return {(a, s): int(n) for a, s, n in conn.execute(q)}

    def events_for(
        self,
        sites: Iterable[str],
        agent_down: Mapping[str, Sequence[tuple[float, float | None]]] | None = None,
    ) -> list[Event]:
        """Every stored site event of ``sites`` and every agent event, in replay order.

        Of the agents' ``observing`` checkpoints only those inside ``agent_down`` (the periods
        the collector could not reach their agent) are read: elsewhere they change nothing.
        """
        sites = sorted(set(sites))
        cols = [events.c[c] for c in _EVENT_COLUMNS]
        out: list[Event] = []
        sane = events.c.time.between(*SANE_TIMES)  # one stored before times were checked
        with self._tx("reading events") as conn:
            for i in range(0, len(sites), 500):
                q = sa.select(*cols).where(events.c.site.in_(sites[i : i + 500]), sane)
                out.extend(Event(*r) for r in conn.execute(q))
            agent_events = events.c.type == "agent"
            q = sa.select(*cols).where(agent_events, events.c.reason != OBSERVING, sane)
            out.extend(Event(*r) for r in conn.execute(q))
            windows = [
                sa.and_(
                    events.c.agent == agent,
                    events.c.time >= start,
                    *(() if end is None else (events.c.time < end,)),
                )
                for agent, periods in sorted((agent_down or {}).items())
                for start, end in periods
            ]
            for i in range(0, len(windows), 200):
                q = sa.select(*cols).where(
                    agent_events, events.c.reason == OBSERVING, sa.or_(*windows[i : i + 200])
                )
                out.extend(Event(*r) for r in conn.execute(q))
        out.sort(key=lambda e: (e.time, e.agent, e.cursor))
        return out

    def count_events(self) -> int:
        with self._tx("counting events") as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(events)) or 0)

    # -- agent reachability ---------------------------------------------------------------

    def agent_status(self, agent: str, time: float, up: bool) -> None:
        """Record that the collector could (``up``) or could not reach ``agent`` from ``time``."""
        with self._tx(f"recording agent {agent} status", f"agent-status {agent}") as conn:
            row = {"agent": agent, "time": time, "up": up, "collector": self.collector}
            conn.execute(sa.insert(agent_status).values(row))
            self._mark(conn, self._sites_of(conn, agent))

    def agent_down(self) -> dict[str, list[tuple[float, float | None]]]:
        """Per agent, the periods when the collector could not reach it (end None: still)."""
        with self._tx("reading agent status") as conn:
            q = (
                sa.select(agent_status)
                .where(agent_status.c.collector == self.collector)
                .order_by(agent_status.c.agent, agent_status.c.time)
            )
            rows: dict[str, list[Any]] = {}
            for r in conn.execute(q):
                rows.setdefault(r.agent, []).append(r)
        return {agent: _periods(mine) for agent, mine in rows.items()}

    # -- outages --------------------------------------------------------------------------

    def dirty(self) -> set[str]:
        with self._tx("reading sites to update") as conn:
            q = sa.select(dirty_sites.c.site).where(dirty_sites.c.collector == self.collector)
            return set(conn.scalars(q))

    def mark_dirty(self, sites: Iterable[str]) -> None:
        sites = set(sites)
        with self._tx("marking sites to update", "derive") as conn:
            self._mark(conn, sites)
        self._marked |= sites

    def replace_outages(
        self, derived: dict[str, Sequence[Outage]], clean: Iterable[str], now: float
    ) -> None:
        """Replace the outages of the sites in ``derived``; unmark ``clean`` in the same go."""
        clean = sorted(set(clean))
        with self._tx(f"storing outages of {len(derived)} sites", "derive") as conn:
            for i in range(0, len(clean), 500):
                conn.execute(
                    sa.delete(dirty_sites).where(
                        dirty_sites.c.collector == self.collector,
                        dirty_sites.c.site.in_(clean[i : i + 500]),
                    )
                )
            sites = sorted(derived)
            for i in range(0, len(sites), 500):
                conn.execute(sa.delete(outages).where(outages.c.site.in_(sites[i : i + 500])))
            rows = [_outage_row(o) for site in sites for o in derived[site]]
            if rows:
                conn.execute(sa.insert(outages), rows)
        self._marked -= set(clean)

    def end_open_outages(self, sites: Iterable[str], at: float) -> int:
        """End the open outages of ``sites`` at ``at`` (sites no longer watched); how many."""
        sites = sorted(set(sites))
        ended = 0
        with self._tx(f"ending the open outages of {len(sites)} removed sites", "derive") as conn:
            for i in range(0, len(sites), 500):
                result = conn.execute(
                    sa.update(outages)
                    .where(
                        outages.c.site.in_(sites[i : i + 500]),
                        outages.c.end.is_(None),
                        outages.c.start <= at,
                    )
                    .values(end=at, duration=at - outages.c.start - outages.c.unobserved)
                )
                ended += result.rowcount or 0
        return ended

    def outages(
        self,
        site: str | None = None,
        district: str | None = None,
        open_only: bool | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 1000,
    ) -> list[Outage]:
        """Outages, newest first; ``start``/``end`` select those overlapping the period."""
        q = sa.select(outages).order_by(outages.c.start.desc(), outages.c.site).limit(limit)
        if site:
            q = q.where(outages.c.site == site)
        if district:
            q = q.where(outages.c.district == district)
        if open_only is not None:
            q = q.where(outages.c.end.is_(None) if open_only else outages.c.end.is_not(None))
        if start is not None:
            q = q.where(sa.or_(outages.c.end.is_(None), outages.c.end > start))
        if end is not None:
            q = q.where(outages.c.start < end)
        with self._tx("reading outages") as conn:
            return [_outage(r) for r in conn.execute(q)]

    # -- maintenance ----------------------------------------------------------------------

    def add_maintenance(
        self, window: Maintenance, origin: str = "api", audit: AuditRecord | None = None
    ) -> int:
        """Store ``window``; with ``audit``, its record too, in the same transaction."""
        with self._tx("adding a maintenance window", "maintenance") as conn:
            values = {k: getattr(window, k) for k in ("site", "district", "start", "end", "reason")}
            stmt = sa.insert(maintenance).values(**values, origin=origin)
            wid = int(conn.execute(stmt.returning(maintenance.c.id)).scalar_one())
            if audit is not None:
                self._audit(conn, dataclasses.replace(audit, target=f"maintenance/{wid}"))
            return wid

    def delete_maintenance(self, wid: int, audit: AuditRecord) -> bool:
        """Delete stored window ``wid`` and record it; False (nothing written) when absent."""
        with self._tx("deleting a maintenance window", "maintenance") as conn:
            gone = conn.execute(sa.delete(maintenance).where(maintenance.c.id == wid)).rowcount
            if gone:
                self._audit(conn, audit)
            return bool(gone)

    def add_audit(self, record: AuditRecord) -> None:
        """Record a write that changed no table of its own (an agent identity accepted)."""
        with self._tx("writing the audit trail", "audit") as conn:
            self._audit(conn, record)

    @staticmethod
    def _audit(conn: Connection, record: AuditRecord) -> None:
        row = dataclasses.asdict(record)
        del row["id"]
        conn.execute(sa.insert(audit).values(**row))

    def audit(self, limit: int) -> list[AuditRecord]:
        """The newest ``limit`` audit records, newest first."""
        with self._tx("reading the audit trail") as conn:
            q = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
            return [AuditRecord(**r._asdict()) for r in conn.execute(q)]

    def maintenance(self) -> list[Maintenance]:
        """Windows added through the API (the config's own live in the config)."""
        with self._tx("reading maintenance windows") as conn:
            q = sa.select(maintenance).order_by(maintenance.c.start)
            rows = list(conn.execute(q))
        out = []
        for r in rows:
            if not _LOWEST <= r.start < r.end <= _HIGHEST:
                # Stored before writes were bounded (e.g. year 0001): it would break every
                # answer that shows it. Skipped, and said how to remove it.
                log.warning(
                    "maintenance window outside the years 1970-9998 skipped; delete it with "
                    "DELETE /api/v1/maintenance/%d id=%d",
                    r.id,
                    r.id,
                )
                continue
            out.append(Maintenance(r.start, r.end, r.site, r.district, r.reason, r.id))
        return out


def _detail(exc: BaseException) -> str:
    """The driver's own words, first line only (PostgreSQL adds a caret drawing)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _outage_row(o: Outage) -> dict[str, object]:
    row = dataclasses.asdict(o)
    row["agents"] = ",".join(o.agents)
    row["duration"] = None if o.end is None else o.duration(o.end)
    return row


def _outage(r: sa.Row[object]) -> Outage:
    m = r._mapping
    return Outage(
        m["site"],
        m["district"],
        m["start"],
        m["end"],
        m["cause"],
        tuple(a for a in m["agents"].split(",") if a),
        m["hop"],
        m["flapping"],
        m["transitions"],
        m["unobserved"],
    )


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration (a no-op when already there)."""
    config = alembic.config.Config()
    config.set_main_option("script_location", str(resources.files("pantau.collector.migrations")))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic.command.upgrade(config, "head")


def connect_store(url: str, collector: str = "") -> Store:
    """A store over ``url`` (``sqlite:///PATH`` or ``postgresql://...``), not yet opened.

    Nothing is read or written: :meth:`Store.open` creates or migrates the schema, and may be
    retried while the database cannot be written (a full disk). ``collector`` names this
    collector (``[collector] name``): its cursors are its own.

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
        raise StoreError(f"store {shown}: cannot open or migrate: {_detail(exc)}") from exc
    except ModuleNotFoundError as exc:
        raise MissingExtra.of(exc, sys.executable) or StoreError(
            f"store: driver {exc.name} missing"
        ) from exc
    return Store(engine, collector)


def open_store(url: str, collector: str = "") -> Store:
    """Connect to ``url`` and migrate it (:func:`connect_store`, then :meth:`Store.open`).

    Raises
    ------
    StoreError
        When the database cannot be reached, created or migrated; the message says which.
    """
    store = connect_store(url, collector)
    store.open()
    return store


def _periods(rows: Iterable[Any]) -> list[tuple[float, float | None]]:
    """Unreachable periods from one agent's status rows in time order (end None: still)."""
    mine: list[tuple[float, float | None]] = []
    for r in rows:
        if not r.up and (not mine or mine[-1][1] is not None):
            mine.append((r.time, None))
        elif r.up and mine and mine[-1][1] is None:
            mine[-1] = (mine[-1][0], r.time)
    return mine
