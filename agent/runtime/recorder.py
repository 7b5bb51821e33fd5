"""Feeds events to the event log from one task, in order, holding them while the store fails.

Rounds hand their events over synchronously (:meth:`Recorder.record`), so a round cancelled at
shutdown cannot lose what it decided; the single writer task keeps the log's order and runs
each SQLite append in a worker thread so an fsync never blocks the event loop.

While the store fails (disk full), events wait in memory, at most ``limit`` of them. Beyond that
:func:`shed` drops what matters least first, and every drop is counted by reason
(``pantau_agent_events_dropped_total``), logged once per episode and reported by the events API
(``dropped``) so the collector learns of the loss:

1. ``probe_detail``: probe events, oldest first (the collector works from site events);
2. ``coalesced``: several pending events of one site become one event from the first ``old`` to
   the last ``new`` (a flap inside the gap disappears, but the site's chain stays unbroken);
3. ``overflow``: the oldest events, when even that is not enough.

Events still pending when the agent stops are dropped with reason ``stop``.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

from pantau.agent.runtime.eventlog import EventLog
from pantau.agent.runtime.health import LogHealth
from pantau.agent.runtime.metrics import AgentStats
from pantau.errors import StoreError
from pantau.events import Event

log = logging.getLogger(__name__)

#: Events held in memory at most while the store fails (``[agent] event_pending_max``).
MAX_PENDING = 100_000
#: Events appended per transaction at most: the log returns a stored copy of each, and the
#: first round of 50,000 sites decides 100,000 events (issue 18: a 12 MiB peak of copies).
APPEND_BATCH = 5_000


def shed(pending: Sequence[Event], limit: int) -> tuple[list[Event], collections.Counter[str]]:
    """At most ``limit`` of ``pending``, dropping probe detail before site changes.

    Returns the events kept (in order) and the count dropped by reason (see the module
    docstring). Pure: the caller owns the queue.
    """
    dropped: collections.Counter[str] = collections.Counter()
    excess = len(pending) - limit
    if excess <= 0:
        return list(pending), dropped
    kept: list[Event] = []
    for event in pending:
        if excess > 0 and event.type == "probe":
            excess -= 1
            dropped["probe_detail"] += 1
        else:
            kept.append(event)
    if excess > 0:
        before = len(kept)
        kept = coalesce(kept)
        dropped["coalesced"] += before - len(kept)
        excess -= before - len(kept)
    if excess > 0:
        dropped["overflow"] += excess
        kept = kept[excess:]
    return kept, +dropped


def coalesce(events: Sequence[Event]) -> list[Event]:
    """Merge the ``site`` events of each site into one, kept at the place of its last event.

    The merged event goes from the first event's ``old`` to the last one's ``new`` with the last
    one's time and reason; when those are equal (the site came back to where it was) nothing is
    left of it. Other events are kept as they are.
    """
    first: dict[str, Event] = {}
    last_index: dict[str, int] = {}
    for i, e in enumerate(events):
        if e.type == "site" and e.site is not None:
            first.setdefault(e.site, e)
            last_index[e.site] = i
    out: list[Event] = []
    for i, e in enumerate(events):
        if e.type != "site" or e.site is None:
            out.append(e)
        elif last_index[e.site] == i:
            start = first[e.site]
            if start.old != e.new:
                out.append(dataclasses.replace(e, old=start.old))
    return out


class Recorder:
    """The writer in front of an :class:`EventLog`.

    Parameters
    ----------
    eventlog
        Where events go.
    stats
        ``events`` is counted by type once an event is on disk; ``events_pending``,
        ``events_dropped`` and ``eventlog_up`` follow the queue and the store.
    retry
        Seconds between attempts while the store fails (disk full, locked).
    limit
        Events held in memory at most while the store fails.
    clock
        Wall-clock time source for ``since``.
    """

    def __init__(
        self,
        eventlog: EventLog,
        stats: AgentStats,
        retry: float = 5.0,
        limit: int = MAX_PENDING,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._log = eventlog
        self._stats = stats
        self._retry = retry
        self._limit = limit
        self._clock = clock
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None
        self._since: float | None = None
        self._shedding = False  # a drop was logged in this failure episode
        self._unsaved_drops = 0  # dropped, not yet added to the log's own count
        self._saved_drops = eventlog.dropped()
        stats.eventlog_up = True

    def start(self) -> None:
        """Start the writer task (needs the running loop)."""
        self._task = asyncio.create_task(self._run(), name="event-writer")

    def health(self) -> LogHealth:
        """The event log as the writer sees it now."""
        return LogHealth(
            up=self._error is None,
            path=str(self._log.path),
            error=self._error,
            since=self._since,
            pending=len(self._pending),
            dropped=self._saved_drops + self._unsaved_drops,
        )

    def record(self, events: Sequence[Event]) -> None:
        """Queue events for appending, in order. Never blocks, never raises."""
        if not events:
            return
        self._pending.extend(events)
        if len(self._pending) > self._limit:
            self._pending, dropped = shed(self._pending, self._limit)
            self._count_drops(dropped)
        self._stats.events_pending = len(self._pending)
        self._wake.set()

    def _count_drops(self, dropped: collections.Counter[str]) -> None:
        total = sum(dropped.values())
        if not total:
            return
        self._stats.events_dropped.update(dropped)
        self._unsaved_drops += total
        if not self._shedding:  # once per episode; the metric counts every one
            self._shedding = True
            log.error(
                "event log unwritable, pending events dropped path=%s limit=%d error=%s reasons=%s",
                self._log.path,
                self._limit,
                self._error,
                ",".join(f"{k}:{v}" for k, v in sorted(dropped.items())),
            )

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            flushed = await self._flush_once()
            if flushed is False:
                await asyncio.sleep(min(self._retry, 0.5) if self._closing else self._retry)
                self._wake.set()
            elif self._pending:  # more than one batch, or recorded while this one was written
                self._wake.set()
            if self._closing and not self._pending:
                return

    async def _flush_once(self) -> bool | None:
        if not self._pending:
            return None
        batch = self._pending[:APPEND_BATCH]
        try:
            stored = await asyncio.to_thread(self._log.append, batch)
        except StoreError as exc:
            if self._error is None:
                self._since = self._clock()
                log.error("event append failed pending=%d error=%s", len(self._pending), exc)
            self._error = str(exc)
            self._stats.eventlog_up = False
            return False
        del self._pending[: len(batch)]
        self._stats.events_pending = len(self._pending)
        for event in stored:
            self._stats.events[event.type] += 1
        await self._save_drops()
        if self._error is not None:
            log.warning(
                "event log writable again path=%s down_seconds=%.1f dropped=%d",
                self._log.path,
                self._clock() - (self._since or self._clock()),
                self._saved_drops,
            )
        self._error, self._since, self._shedding = None, None, False
        self._stats.eventlog_up = True
        return True

    async def _save_drops(self) -> None:
        """Add this run's drops to the log's own count, so a restart does not forget them."""
        if not self._unsaved_drops:
            return
        n = self._unsaved_drops
        try:
            self._saved_drops = await asyncio.to_thread(self._log.add_dropped, n)
        except StoreError as exc:  # counted in memory; tried again after the next append
            log.warning("dropped-event count not saved yet count=%d error=%s", n, exc)
            return
        self._unsaved_drops -= n

    async def close(self, timeout: float) -> None:
        """Write what is pending (trying for ``timeout`` seconds), then stop the writer."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout)
        except TimeoutError:
            self._stats.events_dropped["stop"] += len(self._pending)
            log.error("event log unwritable at stop, events lost count=%d", len(self._pending))
