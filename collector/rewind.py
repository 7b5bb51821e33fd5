"""A log that went back in time: where it differs from what was stored, and how it is read again.

An agent's log restored from a backup, or that lost its last writes in a power cut, hands out
cursors the collector has already read, for other events. The events after the point where it
differs from what was stored are read again under a new segment of the log id, never skipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from pantau.collector.pagecheck import parse_page
from pantau.collector.store import Store
from pantau.collector.store.cursors import Cursor
from pantau.events import Event

#: Reads ``limit`` events after a cursor of the agent's log: the body and the answer's Date.
Fetch = Callable[[aiohttp.ClientSession, int, int], Awaitable[tuple[bytes, float | None]]]


class RewindCheck:
    """Whether one agent's log went back under the collector's cursor, and from where to read.

    Parameters
    ----------
    store
        Where the events read before are (compared with the agent's).
    fetch
        Reads the agent's log (:func:`~pantau.collector.agentclient.fetch_events`).
    """

    def __init__(self, store: Store, fetch: Fetch) -> None:
        self._store, self._fetch = store, fetch
        #: The event at the cursor was compared with the stored one since the agent was reached.
        self.verified = False

    async def reread_from(
        self, session: aiohttp.ClientSession, cur: Cursor | None, obj: dict[str, Any], after: int
    ) -> int | None:
        """The first cursor to read again when the log of page ``obj`` (read after ``after``,
        ``cur``'s) went back; None when it did not.

        It went back when its high-water mark is below ``after`` or, once per start and
        reconnection (it may have gone back and grown past the cursor while away), when the event
        at ``after`` is not the one stored.
        """
        hw = obj.get("high_water")
        if cur is None or not after:
            self.verified = True
            return None
        back = hw is not None and hw < after
        if not back and not self.verified:
            self.verified = True
            back = not await self._same(session, cur, after)
        if not back:
            return None
        top = min(after, hw) if hw is not None else after
        same = functools.partial(self._same, session, cur)
        return await first_different(same, max(obj["oldest"], 1), top)

    async def _same(self, session: aiohttp.ClientSession, cur: Cursor, cursor: int) -> bool:
        """Whether the agent's event at ``cursor`` is the one stored (True when unknowable)."""
        stored = await asyncio.to_thread(self._store.event_at, cur.agent, cur.log_id, cursor)
        if stored is None:
            return True
        body, _ = await self._fetch(session, cursor - 1, 1)
        return same_event(stored, parse_page(body), cursor)


def same_event(stored: Event, obj: dict[str, Any], cursor: int) -> bool:
    """Whether the agent's page ``obj`` (read from ``cursor - 1``) holds ``stored`` at ``cursor``
    (True when its retention pruned it: nothing to compare)."""
    if obj["oldest"] > cursor:
        return True
    items = [e for e in obj["events"] if isinstance(e, dict) and e.get("cursor") == cursor]
    try:
        theirs = Event.from_json(items[0]) if items else None
    except ValueError:
        return False
    return theirs == stored


async def first_different(same: Callable[[int], Awaitable[bool]], low: int, high: int) -> int:
    """The first cursor in ``low..high`` whose event is not the stored one (``same`` tells; binary
    search: a restored log is a prefix of the old one); ``high + 1`` if none differs."""
    while low <= high:
        mid = (low + high) // 2
        if await same(mid):
            low = mid + 1
        else:
            high = mid - 1
    return low


def moved_cursor(cur: Cursor, first: int, now: float, lost: int) -> Cursor:
    """``cur`` moved back to read the log again from cursor ``first``, under the next segment of
    its log id (``LOG.1``, ``LOG.2``, ...); ``lost`` events are counted lost to it."""
    generation = int(cur.key.rsplit(".", 1)[1]) + 1 if cur.key != cur.log_id else 1
    return dataclasses.replace(
        cur,
        next=first - 1,
        updated=now,
        missed=lost,
        segment=f"{cur.log_id}.{generation}",
        went_back=lost,
    )
