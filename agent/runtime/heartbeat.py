"""The agent's ``observing`` checkpoints: proof in the event log that the agent kept observing.

The event log records changes only, so a collector cut off from a live agent whose sites stayed
as they were would learn nothing of that time. Every ``[agent] heartbeat`` seconds, if every
probe kind finished a round since the last checkpoint and none is stale, one checkpoint is
recorded: an ``agent`` event with ``old == new`` (the agent's isolation state, unchanged) and
reason ``observing`` (:data:`pantau.events.OBSERVING`). The collector reads it like any event:
an unreachable period ends at the agent's first event in it (docs/contracts.md). 288 events a
day at the default 300 s, under the log's retention like every other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Hashable

from pantau.events import OBSERVING, Event

log = logging.getLogger(__name__)


def checkpoint(agent: str, now: float, isolated: bool) -> Event:
    """The checkpoint event of ``agent`` at ``now``."""
    state = "isolated" if isolated else "connected"
    return Event(agent, "agent", None, None, state, state, now, OBSERVING, isolated)


class Heartbeat:
    """Records a checkpoint every ``interval`` seconds while the agent is observing.

    Parameters
    ----------
    interval
        Seconds between checkpoints (``[agent] heartbeat``; 0 never records one).
    progress
        Changes whenever a round finished (the per-kind round counts).
    stale
        The probe kinds whose rounds stopped (no checkpoint while any has).
    stamp
        ``(agent name, now, isolated)`` for the event.
    record
        Where the event goes (the recorder: written to the log like every other event).
    """

    def __init__(
        self,
        interval: float,
        progress: Callable[[], Hashable],
        stale: Callable[[], Collection[str]],
        stamp: Callable[[], tuple[str, float, bool]],
        record: Callable[[list[Event]], None],
    ) -> None:
        self.interval = interval
        self._progress, self._stale, self._stamp, self._record = progress, stale, stamp, record
        self._last: Hashable = progress()
        self.recorded = 0

    def tick(self) -> Event | None:
        """Record a checkpoint if rounds progressed since the last tick and none is stale."""
        now_progress = self._progress()
        moved, self._last = now_progress != self._last, now_progress
        if not moved or self._stale():
            log.debug("no checkpoint: rounds not progressing")
            return None
        event = checkpoint(*self._stamp())
        self._record([event])
        self.recorded += 1
        return event

    async def run(self) -> None:
        """Tick every ``interval`` seconds until cancelled (never when the interval is 0)."""
        if self.interval <= 0:
            return
        while True:
            await asyncio.sleep(self.interval)
            self.tick()
