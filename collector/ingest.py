"""Pulling agents' event logs: one page check (pure) and the HTTP pull loop per agent.

A page is read from ``GET /api/v1/events?after=CURSOR&limit=N`` (docs/contracts.md). Events that
fail a check are rejected, counted by reason and logged, and the cursor moves past them: they
can never be stored, and waiting on them would stall the agent for good. A page that is not a
page at all (bad JSON, missing fields) moves nothing. Pages are stored with their cursor in one
transaction (:meth:`Store.ingest`), so a crash anywhere neither loses nor repeats an event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

import aiohttp

from pantau.collector.agentclient import failure_detail
from pantau.collector.store import Cursor, Store
from pantau.errors import StoreError
from pantau.events import Event
from pantau.urls import redact_url

log = logging.getLogger(__name__)

#: The fixed set of rejection reasons (label values of events_rejected_total).
REJECT_REASONS = (
    "bad_json",
    "bad_page",
    "bad_event",
    "unknown_site",
    "future",
    "bad_cursor",
    "agent_mismatch",
)
#: Pages read from one agent per round at most, so one busy agent cannot starve the others.
MAX_PAGES_PER_ROUND = 100


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """A checked page: the events to store and what was rejected, by reason."""

    agent: str
    log_id: str
    events: tuple[Event, ...]
    next: int
    oldest: int
    more: bool
    rejected: Counter[str]


class BadPage(ValueError):
    """The answer is not an event page; ``reason`` is ``bad_json`` or ``bad_page``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadPage("bad_page", f"field {key!r} is {value!r}, expected an integer >= 0")
    return value


def check_page(body: bytes, after: int, sites: Collection[str], now: float, skew: float) -> Page:
    """Parse and check one answer of the event API.

    Parameters
    ----------
    body
        The raw HTTP body.
    after
        The cursor the page was asked after.
    sites
        Site ids the collector knows; events for others are rejected (``unknown_site``).
    now, skew
        Events timed after ``now + skew`` are rejected (``future``).

    Raises
    ------
    BadPage
        When the body is not JSON or not a page; nothing of it may be used.
    """
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPage("bad_json", f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadPage("bad_page", f"page is a {type(obj).__name__}, expected an object")
    agent, log_id, raw = obj.get("agent"), obj.get("log_id"), obj.get("events")
    if not isinstance(agent, str) or not agent or not isinstance(log_id, str) or not log_id:
        raise BadPage("bad_page", "fields 'agent' and 'log_id' must be non-empty strings")
    if not isinstance(raw, list) or not isinstance(obj.get("more"), bool):
        raise BadPage("bad_page", "field 'events' must be a list and 'more' a boolean")
    nxt, oldest = _int(obj, "next"), _int(obj, "oldest")
    if nxt < after:
        raise BadPage("bad_page", f"next ({nxt}) is before after ({after})")
    accepted: list[Event] = []
    rejected: Counter[str] = Counter()
    last = after
    for item in raw:
        event, reason, detail = _check_event(item, agent, last, nxt, sites, now + skew)
        if event is None:
            rejected[reason] += 1
            log.warning("event rejected agent=%s reason=%s detail=%s", agent, reason, detail)
            continue
        accepted.append(event)
        last = event.cursor
    return Page(agent, log_id, tuple(accepted), nxt, oldest, obj["more"], rejected)


def _check_event(
    item: Any, agent: str, last: int, nxt: int, sites: Collection[str], latest: float
) -> tuple[Event | None, str, str]:
    """The event, or None with the rejection reason and its detail."""
    try:
        event = Event.from_json(item)
    except ValueError as exc:
        return None, "bad_event", str(exc)
    if event.agent != agent:
        return None, "agent_mismatch", f"event of {event.agent!r} in the log of {agent!r}"
    if not last < event.cursor <= nxt:
        return None, "bad_cursor", f"cursor {event.cursor} not in ({last}, {nxt}]"
    if event.site is not None and event.site not in sites:
        return None, "unknown_site", f"site {event.site!r} is not in the collector's inventory"
    if event.time > latest:
        return None, "future", f"time {item.get('time')!r} is ahead of the collector's clock"
    return event, "", ""


@dataclasses.dataclass(slots=True)
class AgentHealth:
    """What the collector knows of one agent, for metrics and ``/api/v1/agents``."""

    source: str
    name: str | None = None
    up: bool | None = None
    caught_up: float | None = None  # last time a pull ended with nothing more to read
    ingested: int = 0
    rejected: Counter[str] = dataclasses.field(default_factory=Counter)
    missed: int = 0
    down_since: float | None = None  # when the current unreachable period began
    error: str | None = None  # why the last pull failed, while it is unreachable

    @property
    def label(self) -> str:
        return self.name or self.source


class Puller:
    """Pulls one agent's event log into the store, page by page.

    Parameters
    ----------
    source
        The agent's base URL (``[collector] agents``).
    store
        Where pages go; writes are serialised by ``write_lock``.
    sites
        Known site ids.
    limit, skew
        ``page_limit`` and ``clock_skew`` from ``[collector]``.
    clock
        Wall-clock time source.
    """

    def __init__(
        self,
        source: str,
        store: Store,
        sites: Collection[str],
        *,
        limit: int,
        skew: float,
        clock: Callable[[], float],
        write_lock: asyncio.Lock,
        cursor: Cursor | None = None,
        timeout: float | None = None,
    ) -> None:
        self.source = redact_url(source).rstrip("/")  # config refuses userinfo; never store it
        self.health = AgentHealth(self.source, cursor.agent if cursor else None)
        self._store, self._clock, self._lock, self._cursor = store, clock, write_lock, cursor
        self.configure(sites, limit=limit, skew=skew, timeout=timeout)

    def configure(
        self, sites: Collection[str], *, limit: int, skew: float, timeout: float | None
    ) -> None:
        """Apply reloadable settings; they take effect with the next request."""
        self._sites, self._limit, self._skew = sites, limit, skew
        self._timeout = None if timeout is None else aiohttp.ClientTimeout(total=timeout)

    async def pull(self, session: aiohttp.ClientSession) -> bool:
        """Read pages until the agent has nothing more (bounded); True when something was stored.

        Network failures mark the agent down; store failures are logged and retried next round.
        """
        stored_any = False
        for _ in range(MAX_PAGES_PER_ROUND):
            after = self._cursor.next if self._cursor else 0
            try:
                body = await self._fetch(session, after)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                await self._set_up(False, failure_detail(exc))
                return stored_any
            await self._set_up(True, "")
            try:
                page = await asyncio.to_thread(  # ~5 ms per 1,000 events: off the loop
                    check_page, body, after, self._sites, self._clock(), self._skew
                )
            except BadPage as exc:
                self.health.rejected[exc.reason] += 1
                log.warning(
                    "page rejected agent=%s reason=%s detail=%s", self.health.label, exc.reason, exc
                )
                return stored_any
            if self._cursor and page.log_id != self._cursor.log_id and after:
                log.warning(
                    "agent log replaced agent=%s old_log_id=%s new_log_id=%s",
                    page.agent,
                    self._cursor.log_id,
                    page.log_id,
                )
                self._cursor = dataclasses.replace(self._cursor, log_id=page.log_id, next=0)
                continue
            try:
                stored_any |= await self._store_page(page, after)
            except StoreError as exc:
                log.error("store failed agent=%s error=%s", page.agent, exc)
                return stored_any
            if not page.more:
                self.health.caught_up = self._clock()
                break
        return stored_any

    async def _fetch(self, session: aiohttp.ClientSession, after: int) -> bytes:
        url = f"{self.source}/api/v1/events"
        params = {"after": after, "limit": self._limit}
        kwargs: dict[str, Any] = {} if self._timeout is None else {"timeout": self._timeout}
        async with session.get(url, params=params, **kwargs) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info,
                    (),
                    status=resp.status,
                    message=body[:200].decode(errors="replace"),
                )
            return body

    async def _store_page(self, page: Page, after: int) -> bool:
        missed = max(0, page.oldest - 1 - after)
        if missed:
            log.warning(
                "events lost to agent retention agent=%s after=%d oldest=%d missed=%d",
                page.agent,
                after,
                page.oldest,
                missed,
            )
        now = self._clock()
        async with self._lock:
            stored = await asyncio.to_thread(
                self._store.ingest,
                self.source,
                page.agent,
                page.log_id,
                page.events,
                page.next,
                now=now,
                missed=missed,
            )
        self._cursor = Cursor(self.source, page.agent, page.log_id, page.next, now, missed)
        self.health.name = page.agent
        self.health.ingested += stored
        self.health.missed += missed
        self.health.rejected.update(page.rejected)
        return stored > 0 or page.next != after

    async def _set_up(self, up: bool, detail: str) -> None:
        if not up:
            self.health.error = detail
        if self.health.up == up:
            return
        was, self.health.up = self.health.up, up
        now = self._clock()
        if up:
            log.info("agent reachable agent=%s", self.health.label)
            self.health.down_since = self.health.error = None
        else:
            log.warning("agent unreachable agent=%s error=%s", self.health.label, detail)
            self.health.down_since = now
            # Nothing of this agent is stored while it is unreachable: a failure to store its
            # last page is no longer news (the agent problem is), and is retried when it is back.
            self._store.health.forget(f"ingest {self.source}")
        # Only a known agent has events whose votes its absence affects.
        if self.health.name is not None and (was is not None or not up):
            try:
                async with self._lock:
                    await asyncio.to_thread(self._store.agent_status, self.health.name, now, up)
            except StoreError as exc:
                log.error("store failed agent=%s error=%s", self.health.label, exc)
                # Not recorded: try again with the next pull, so the period is not lost.
                self.health.up = was
