"""A log that went back in time: where it differs from what was stored, and how it is read again.

An agent's log restored from a backup, or that lost its last writes in a power cut, hands out
cursors the collector has already read, for other events. The events after the point where it
differs from what was stored are read again under a new segment of the log id, never skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from pantau.collector.store.cursors import Cursor
from pantau.events import Event


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


def reread_from(cur: Cursor, first: int, now: float, lost: int) -> Cursor:
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
