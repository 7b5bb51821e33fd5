"""Feeds events to the event log from one task, in order, holding them while the store fails.

Rounds hand their events over synchronously (:meth:`Recorder.record`), so a round cancelled at
shutdown cannot lose what it decided; the single writer task keeps the log's order and runs
each SQLite append in a worker thread so an fsync never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pantau.agent.runtime.eventlog import EventLog
from pantau.agent.runtime.metrics import AgentStats
from pantau.errors import StoreError
from pantau.events import Event

log = logging.getLogger(__name__)

#: Events held in memory at most while the store fails (then the oldest are dropped, logged).
MAX_PENDING = 100_000


class Recorder:
    """The writer in front of an :class:`EventLog`.

    Parameters
    ----------
    eventlog
        Where events go.
    stats
        ``events`` is counted by type once an event is on disk.
    retry
        Seconds between attempts while the store fails (disk full, locked).
    """

    def __init__(self, eventlog: EventLog, stats: AgentStats, retry: float = 5.0) -> None:
        self._log = eventlog
        self._stats = stats
        self._retry = retry
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task (needs the running loop)."""
        self._task = asyncio.create_task(self._run(), name="event-writer")

    def record(self, events: Sequence[Event]) -> None:
        """Queue events for appending, in order. Never blocks, never raises."""
        if not events:
            return
        self._pending.extend(events)
        if len(self._pending) > MAX_PENDING:
            dropped = len(self._pending) - MAX_PENDING
            del self._pending[:dropped]
            log.error("event log unwritable, oldest pending events dropped count=%d", dropped)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if await self._flush_once() is False:
                await asyncio.sleep(min(self._retry, 0.5) if self._closing else self._retry)
                self._wake.set()
            if self._closing and not self._pending:
                return

    async def _flush_once(self) -> bool | None:
        if not self._pending:
            return None
        batch = list(self._pending)
        try:
            stored = await asyncio.to_thread(self._log.append, batch)
        except StoreError as exc:
            log.error("event append failed pending=%d error=%s", len(batch), exc)
            return False
        del self._pending[: len(batch)]
        for event in stored:
            self._stats.events[event.type] += 1
        return True

    async def close(self, timeout: float) -> None:
        """Write what is pending (trying for ``timeout`` seconds), then stop the writer."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout)
        except TimeoutError:
            log.error("event log unwritable at stop, events lost count=%d", len(self._pending))
