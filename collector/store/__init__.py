"""The collector store: raw events, cursors, agent reachability, outages, maintenance windows.

:class:`Store` is the store's one face: each method is one transaction over the concern's own
module (:mod:`.engine`: the database and its migration; :mod:`.events`; :mod:`.cursors`;
:mod:`.reachability`; :mod:`.outages`: outages and the sites marked for derivation;
:mod:`.maintenance`: maintenance windows and the audit trail). Every database failure becomes
:class:`~pantau.errors.StoreError` naming the operation; a failed write rolls back whole, so a
retry neither loses nor repeats anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from pantau.collector.audit import AuditRecord
from pantau.collector.availability import Maintenance
from pantau.collector.health import StoreHealth
from pantau.collector.outages import Outage
from pantau.collector.store import cursors, events, maintenance, outages, reachability
from pantau.collector.store.cursors import Cursor
from pantau.collector.store.engine import create_engine, detail, migrate
from pantau.collector.store.reachability import Periods
from pantau.errors import StoreError
from pantau.events import Event


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
        self._insert_events_sql = events.insert_sql(mark)
        self._mark_sql = outages.mark_sql(mark)

    @contextlib.contextmanager
    def _tx(self, operation: str, write: str | None = None) -> Iterator[Connection]:
        """One transaction; ``write`` names the kind of write, reported to :attr:`health`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            said = detail(exc)
            if write:
                self.health.failed(write, operation, said, time.time())
            raise StoreError(
                f"store {self.name}: {operation} failed: {said}; nothing of it was written"
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
            said = detail(exc)
            self.health.failed("open", "opening and migrating the store", said, time.time())
            raise StoreError(f"store {self.name}: cannot open or migrate: {said}") from exc
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
        rows = [events.row(segment or log_id, e) for e in batch]
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
            if changes or (beats and reachability.down_during(conn, self.collector, agent, beats)):
                sites |= events.sites_of(conn, agent)
            outages.mark(conn, self._mark_sql, self.collector, sites - self._marked)
            cursor = Cursor(source, agent, log_id, next_cursor, now, missed, segment or log_id)
            cursors.put_cursor(conn, self._insert, self.collector, cursor)
        self._marked |= sites
        return stored

    def put_cursor(self, cur: Cursor) -> None:
        """Move this collector's cursor of ``cur.source`` (a log that went back, an identity
        accepted); ``cur.missed`` and ``cur.went_back`` add to the events counted lost."""
        with self._tx(f"moving the cursor of {cur.source}", f"ingest {cur.source}") as conn:
            cursors.put_cursor(conn, self._insert, self.collector, cur)

    def cursors(self) -> dict[str, Cursor]:
        """This collector's cursor of every agent, by source URL (see
        :func:`.cursors.read_cursors`)."""
        with self._tx("reading cursors") as conn:
            return cursors.read_cursors(conn, self.collector)

    def event_at(self, agent: str, log_id: str, cursor: int) -> Event | None:
        """The event stored at ``cursor`` of ``agent``'s log ``log_id`` (any of its segments),
        the newest segment's if several; None when not stored."""
        with self._tx("reading an event") as conn:
            return events.event_at(conn, agent, log_id, cursor)

    def site_event_counts(self) -> dict[tuple[str, str], int]:
        """Stored site events per (agent, site): what waits for sites not in the inventory."""
        with self._tx("counting events per site") as conn:
            return events.site_event_counts(conn)

    def events_for(
        self,
        sites: Iterable[str],
        agent_down: Mapping[str, Sequence[tuple[float, float | None]]] | None = None,
    ) -> list[Event]:
        """Every stored site event of ``sites`` and every agent event, in replay order (see
        :func:`.events.events_for`)."""
        with self._tx("reading events") as conn:
            return events.events_for(conn, sites, agent_down)

    def count_events(self) -> int:
        with self._tx("counting events") as conn:
            return events.count_events(conn)

    # -- agent reachability ---------------------------------------------------------------

    def agent_status(self, agent: str, time: float, up: bool) -> None:
        """Record that the collector could (``up``) or could not reach ``agent`` from ``time``."""
        with self._tx(f"recording agent {agent} status", f"agent-status {agent}") as conn:
            reachability.record_status(conn, self.collector, agent, time, up)
            outages.mark(conn, self._mark_sql, self.collector, events.sites_of(conn, agent))

    def agent_down(self) -> dict[str, Periods]:
        """Per agent, the periods when the collector could not reach it (end None: still)."""
        with self._tx("reading agent status") as conn:
            return reachability.agent_down(conn, self.collector)

    # -- outages --------------------------------------------------------------------------

    def dirty(self) -> set[str]:
        with self._tx("reading sites to update") as conn:
            return outages.dirty(conn, self.collector)

    def mark_dirty(self, sites: Iterable[str]) -> None:
        sites = set(sites)
        with self._tx("marking sites to update", "derive") as conn:
            outages.mark(conn, self._mark_sql, self.collector, sites)
        self._marked |= sites

    def replace_outages(
        self, derived: dict[str, Sequence[Outage]], clean: Iterable[str], now: float
    ) -> None:
        """Replace the outages of the sites in ``derived``; unmark ``clean`` in the same go."""
        clean = sorted(set(clean))
        with self._tx(f"storing outages of {len(derived)} sites", "derive") as conn:
            outages.replace_outages(conn, self.collector, derived, clean)
        self._marked -= set(clean)

    def end_open_outages(self, sites: Iterable[str], at: float) -> int:
        """End the open outages of ``sites`` at ``at`` (sites no longer watched); how many."""
        sites = sorted(set(sites))
        with self._tx(f"ending the open outages of {len(sites)} removed sites", "derive") as conn:
            return outages.end_open_outages(conn, sites, at)

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
        with self._tx("reading outages") as conn:
            return outages.read_outages(conn, site, district, open_only, start, end, limit)

    # -- maintenance ----------------------------------------------------------------------

    def add_maintenance(
        self, window: Maintenance, origin: str = "api", audit: AuditRecord | None = None
    ) -> int:
        """Store ``window``; with ``audit``, its record too, in the same transaction."""
        with self._tx("adding a maintenance window", "maintenance") as conn:
            wid = maintenance.add_window(conn, window, origin)
            if audit is not None:
                record = dataclasses.replace(audit, target=f"maintenance/{wid}")
                maintenance.add_audit(conn, record)
            return wid

    def delete_maintenance(self, wid: int, audit: AuditRecord) -> bool:
        """Delete stored window ``wid`` and record it; False (nothing written) when absent."""
        with self._tx("deleting a maintenance window", "maintenance") as conn:
            gone = maintenance.delete_window(conn, wid)
            if gone:
                maintenance.add_audit(conn, audit)
            return gone

    def add_audit(self, record: AuditRecord) -> None:
        """Record a write that changed no table of its own (an agent identity accepted)."""
        with self._tx("writing the audit trail", "audit") as conn:
            maintenance.add_audit(conn, record)

    def audit(self, limit: int) -> list[AuditRecord]:
        """The newest ``limit`` audit records, newest first."""
        with self._tx("reading the audit trail") as conn:
            return maintenance.read_audit(conn, limit)

    def maintenance(self) -> list[Maintenance]:
        """Windows added through the API (the config's own live in the config)."""
        with self._tx("reading maintenance windows") as conn:
            return maintenance.read_windows(conn)


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
    return Store(create_engine(url), collector)


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
