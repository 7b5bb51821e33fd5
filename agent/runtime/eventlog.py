"""The agent's durable, append-only event log (SQLite in WAL mode) and its cursor API.

Durability: ``synchronous=FULL``. In WAL mode, NORMAL keeps the database consistent but may
drop the last committed transactions on a power cut; the collector may already have pulled
those cursors, and the next events would then reuse them. Events are rare (state changes
only), so an fsync per append costs nothing that matters, and FULL it is.

Cursors are the table's ``INTEGER PRIMARY KEY AUTOINCREMENT``: strictly increasing and never
reused, even after retention deleted the newest rows or the agent restarted. ``log_id`` is a
random id stored in the database when it is created; it changes only if the file is replaced.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from pantau.errors import StoreError
from pantau.events import Event
from pantau.files import owner_only

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    type TEXT NOT NULL,
    site TEXT,
    probe TEXT,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    time REAL NOT NULL,
    reason TEXT NOT NULL,
    isolated INTEGER NOT NULL,
    hop TEXT
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
"""
_COLUMNS = "cursor, agent, type, site, probe, old, new, time, reason, isolated, hop"


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """One answer of :meth:`EventLog.read` (the fields of ``GET /api/v1/events``)."""

    events: tuple[Event, ...]
    next: int
    oldest: int
    more: bool
    #: The highest cursor handed out when the page was read, in the same locked read: every
    #: event at or below it (and above ``after``) is on this page or, when ``more``, after it.
    high_water: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Retention:
    """How long and how many events are kept (``[agent] event_retention_*``)."""

    max_age: float  # seconds
    max_count: int


class EventLog:
    """An open event log. Methods are thread-safe (one connection behind a lock).

    Parameters
    ----------
    path
        The SQLite file; its folder is created.
    retention
        Bounds applied on every append.
    clock
        Wall-clock time source for retention by age.

    Raises
    ------
    StoreError
        When the file cannot be opened or is not an event log (corrupt, read-only, disk full).
    """

    def __init__(self, path: Path, retention: Retention, clock: Callable[[], float]) -> None:
        self.path = Path(path)
        self._retention = retention
        self._clock = clock
        self._lock = threading.Lock()
        try:
            owner_only(self.path)  # the network map: never world-readable
            # isolation_level=None: transactions are explicit, so a failed append rolls back whole.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the event log: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self.log_id = self._log_id()
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(
                f"{self.path}: not a usable event log ({exc}); move the file away to start a "
                "new log (the collector will notice the new log_id)"
            ) from exc

    def _log_id(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
        if row:
            return str(row[0])
        new = uuid.uuid4().hex
        self._db.execute("INSERT INTO meta (key, value) VALUES ('log_id', ?)", (new,))
        return new

    def append(self, events: Sequence[Event]) -> list[Event]:
        """Append events in order in one transaction; return them with their cursors.

        Raises
        ------
        StoreError
            When the write failed; then none of ``events`` was recorded and everything
            recorded before is intact.
        """
        if not events:
            return []
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                stored = []
                for e in events:
                    cur = self._db.execute(
                        f"INSERT INTO events ({_COLUMNS}) VALUES (NULL,?,?,?,?,?,?,?,?,?,?)",
                        (
                            e.agent,
                            e.type,
                            e.site,
                            e.probe,
                            e.old,
                            e.new,
                            e.time,
                            e.reason,
                            int(e.isolated),
                            e.hop,
                        ),
                    )
                    stored.append(dataclasses.replace(e, cursor=int(cur.lastrowid or 0)))
                self._prune()
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: cannot append to the event log: {exc}") from exc
        return stored

    def _prune(self) -> None:
        cutoff = self._clock() - self._retention.max_age
        self._db.execute("DELETE FROM events WHERE time < ?", (cutoff,))
        self._db.execute(
            "DELETE FROM events WHERE cursor <= (SELECT MAX(cursor) FROM events) - ?",
            (self._retention.max_count,),
        )

    def read(self, after: int = 0, limit: int = 1000) -> Page:
        """Events with ``cursor > after``, oldest first, at most ``limit`` of them."""
        with self._lock:
            try:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?",
                    (after, limit + 1),
                ).fetchall()
                oldest = self._oldest()
                high_water = self._high_water()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot read the event log: {exc}") from exc
        events = tuple(_row_event(r) for r in rows[:limit])
        last = events[-1].cursor if events else after
        return Page(events, last, oldest, len(rows) > limit, high_water)

    def high_water(self) -> int:
        """The highest cursor this log ever handed out (0 for a new log).

        The collector compares it with its own cursor: a log restored from a backup, or one that
        lost its last WAL frames, has a high-water mark below what the collector already read.
        """
        with self._lock:
            try:
                return self._high_water()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot read the event log: {exc}") from exc

    def _high_water(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(row[0]) if row else 0

    def _oldest(self) -> int:
        row = self._db.execute("SELECT MIN(cursor) FROM events").fetchone()
        if row[0] is not None:
            return int(row[0])
        seq = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(seq[0]) + 1 if seq else 1

    def dropped(self) -> int:
        """Events the agent decided but could not record, over the life of this log."""
        with self._lock:
            try:
                row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot read the event log: {exc}") from exc
        return int(row[0]) if row else 0

    def add_dropped(self, count: int) -> int:
        """Add ``count`` to :meth:`dropped` (durably); return the new total.

        Raises
        ------
        StoreError
            When the write failed; the stored total is unchanged.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
                total = (int(row[0]) if row else 0) + count
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('dropped', ?)", (str(total),)
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: cannot record dropped events: {exc}") from exc
        return total

    def close(self) -> None:
        """Checkpoint and close; every appended event is already on disk."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("event log checkpoint failed path=%s error=%s", self.path, exc)
            self._db.close()


def _row_event(row: tuple) -> Event:  # type: ignore[type-arg]
    cursor, agent, type_, site, probe, old, new, time, reason, isolated, hop = row
    return Event(agent, type_, site, probe, old, new, time, reason, bool(isolated), hop, cursor)
