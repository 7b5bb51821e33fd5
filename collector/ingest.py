"""Pulling one agent's event log into the store, page by page, and what it tells of the agent.

A page is read from ``GET /api/v1/events?after=CURSOR&limit=N`` (docs/contracts.md) and checked
by :mod:`pantau.collector.pagecheck`. Pages are stored with their cursor in one transaction
(:meth:`Store.ingest`), so a crash anywhere neither loses nor repeats an event. Around that:

* answers are read up to ``max_page_bytes`` (:mod:`.agentclient`); a page that is not one is that
  agent's error;
* the agent's clock offset is measured at every pull (:mod:`.agentclock`);
* the identity answering at a URL is pinned by the stored cursor (:mod:`.identity`) until an
  operator accepts another one (:meth:`Puller.accept_identity`);
* a log that went back in time (its high-water mark below the cursor, or another event at it) is
  read again from where it differs (:mod:`.rewind`), never skipped;
* events of sites the collector does not know are stored and wait for the site to be added.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

import aiohttp

from pantau.collector import identity, rewind
from pantau.collector.agentclient import failure_detail, fetch_events
from pantau.collector.agentclock import AgentClock
from pantau.collector.agenthealth import AgentHealth
from pantau.collector.pagecheck import BadPage, Page, check_page, parse_page
from pantau.collector.store import Store
from pantau.collector.store.cursors import Cursor
from pantau.collector.unknownsites import UnknownSites
from pantau.errors import StoreError
from pantau.urls import redact_url

log = logging.getLogger(__name__)

#: Pages read from one agent per round at most, so one busy agent cannot starve the others.
MAX_PAGES_PER_ROUND = 100


class Puller:
    """Pulls one agent's event log into the store, page by page.

    Parameters
    ----------
    source
        The agent's base URL (``[collector] agents``).
    store
        Where pages go; writes are serialised by ``write_lock``.
    sites
        Known site ids (events of others are stored and counted as held).
    limit, skew, max_bytes
        ``page_limit``, ``clock_skew`` and ``max_page_bytes`` from ``[collector]``.
    clock
        Wall-clock time source.
    site_events
        Stored site events of this agent per site (held ones are counted from it).
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
        max_bytes: int = 64 << 20,
        site_events: Counter[str] | None = None,
    ) -> None:
        self.source = redact_url(source).rstrip("/")  # config refuses userinfo; never store it
        self.health = AgentHealth(self.source, cursor.agent if cursor else None)
        if cursor is not None:  # the stored counts: a restart does not forget what was lost
            self.health.missed = cursor.missed - cursor.went_back
            self.health.lost.update(
                {"retention": self.health.missed, "log_went_back": cursor.went_back}
            )
        self._store, self._clock, self._lock, self._cursor = store, clock, write_lock, cursor
        self._unknown = UnknownSites(self.health, site_events)
        self._last_hw: tuple[int, float] | None = None  # agent high-water, when read
        self._rewind = rewind.RewindCheck(store, self._fetch)
        self._refusing: str | None = None  # why the last page was refused, until a good one
        self._clock_of = AgentClock(self.health, skew)
        self.configure(sites, limit=limit, skew=skew, timeout=timeout, max_bytes=max_bytes)

    def configure(
        self,
        sites: Collection[str],
        *,
        limit: int,
        skew: float,
        timeout: float | None,
        max_bytes: int = 64 << 20,
    ) -> None:
        """Apply reloadable settings; they take effect with the next request."""
        self._limit, self._max_bytes = limit, max_bytes
        self._clock_of.skew = skew
        self._timeout = None if timeout is None else aiohttp.ClientTimeout(total=timeout)
        self._unknown.know(sites)

    async def pull(self, session: aiohttp.ClientSession) -> bool:
        """Read pages until the agent has nothing more (bounded); True when something was stored.

        Network failures mark the agent down; store failures are logged and retried next round.
        """
        stored_any = False
        for _ in range(MAX_PAGES_PER_ROUND):
            after = self._cursor.next if self._cursor else 0
            try:
                sent = self._clock()
                body, date = await self._fetch(session, after, self._limit)
                received = self._clock()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                await self._set_up(False, failure_detail(exc))
                return stored_any
            except BadPage as exc:
                await self._set_up(True, "")
                self._refuse_page(exc)
                return stored_any
            await self._set_up(True, "")
            try:
                obj = await asyncio.to_thread(parse_page, body)
            except BadPage as exc:
                self._refuse_page(exc)
                return stored_any
            self._clock_of.measure(obj.get("now") or date, sent, received)
            if not identity.pinned(self.health, self._cursor, (obj["agent"], obj["log_id"])):
                return stored_any
            try:
                if await self._went_back(session, obj, after):
                    continue
            except (aiohttp.ClientError, TimeoutError, OSError, BadPage) as exc:
                log.warning(
                    "checking the agent's log failed, retried next round agent=%s error=%s",
                    self.health.label,
                    exc,
                )
                return stored_any
            if not self._clock_of.judgeable(obj, first_pull=self._last_hw is None):
                return stored_any
            checks = self._clock_of.checks(self._clock(), self._last_hw)
            try:
                page = await asyncio.to_thread(check_page, obj, after, checks)
            except BadPage as exc:
                self._refuse_page(exc)
                return stored_any
            if self._refusing:
                log.info("pages accepted again agent=%s", page.agent)
                self._refusing = None
            self.health.held["future"] = page.held
            try:
                stored_any |= await self._store_page(page, after)
            except StoreError as exc:
                log.error("store failed agent=%s error=%s", page.agent, exc)
                return stored_any
            if page.high_water is not None:
                self._last_hw = (page.high_water, sent)
            if not page.more:
                if not page.held:
                    self.health.caught_up = self._clock()
                break
        return stored_any

    def _refuse_page(self, exc: BadPage) -> None:
        self.health.rejected[exc.reason] += 1
        if self._refusing != exc.reason:  # once per cause, not every pull (the metric counts)
            log.warning(
                "page rejected, counted until a good page agent=%s reason=%s detail=%s",
                self.health.label,
                exc.reason,
                exc,
            )
        self._refusing = exc.reason

    async def _fetch(
        self, session: aiohttp.ClientSession, after: int, limit: int
    ) -> tuple[bytes, float | None]:
        return await fetch_events(
            session, self.source, after, limit, timeout=self._timeout, max_bytes=self._max_bytes
        )

    # -- identity -------------------------------------------------------------------------

    async def accept_identity(self, session: aiohttp.ClientSession) -> str | None:
        """Adopt the identity now answering at the source (an operator's decision).

        Its log is read from the start, under its own log id; what the old log had beyond the
        cursor and the collector never read is counted lost. Returns the identity accepted.
        """
        if self.health.conflict is None or self._cursor is None:
            return None
        body, _ = await self._fetch(session, 0, 1)
        obj = parse_page(body)
        old, lost, agent, log_id = self._cursor, self._unread(), obj["agent"], obj["log_id"]
        new = Cursor(self.source, agent, log_id, 0, self._clock(), lost, log_id, went_back=lost)
        await self._move_cursor(new)
        log.warning(
            "agent identity accepted source=%s old_agent=%s old_log_id=%s agent=%s log_id=%s",
            self.source,
            old.agent,
            old.log_id,
            new.agent,
            new.log_id,
        )
        self.health.name, self.health.conflict = new.agent, None
        return f"{new.agent} {new.log_id}"

    # -- a log that went back in time ---------------------------------------------------------

    async def _went_back(
        self, session: aiohttp.ClientSession, obj: dict[str, Any], after: int
    ) -> bool:
        """Detect a log that went back; then move the cursor to where it differs. True if moved."""
        first = await self._rewind.reread_from(session, self._cursor, obj, after)
        if first is None or self._cursor is None:
            return False
        cur, lost = self._cursor, self._unread()
        moved = rewind.moved_cursor(cur, first, self._clock(), lost)
        await self._move_cursor(moved)
        log.error(
            "agent log went back in time agent=%s source=%s cursor=%d high_water=%s "
            "rereading_after=%d segment=%s lost=%d",
            cur.agent,
            self.source,
            after,
            obj.get("high_water"),
            first - 1,
            moved.segment,
            lost,
        )
        return True

    def _unread(self) -> int:
        """Events the agent's log had beyond our cursor when last read, that a log going back or
        another identity makes unreadable."""
        return max(0, self._last_hw[0] - self._cursor.next) if self._last_hw and self._cursor else 0

    async def _move_cursor(self, to: Cursor) -> None:
        """Store ``to`` (its ``went_back`` events counted lost) and read the log from there."""
        async with self._lock:
            await asyncio.to_thread(self._store.put_cursor, to)
        if to.went_back:
            self.health.lost["log_went_back"] += to.went_back
        # Counted: not added again with the next page's cursor.
        self._cursor, self._last_hw = dataclasses.replace(to, missed=0, went_back=0), None

    # -- storing --------------------------------------------------------------------------------

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
        segment = self._cursor.key if self._cursor else page.log_id
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
                segment=segment,
            )
        self._cursor = Cursor(self.source, page.agent, page.log_id, page.next, now, missed, segment)
        self.health.name = page.agent
        self.health.ingested += stored
        self.health.missed += missed
        self.health.lost["retention"] += missed
        self.health.rejected.update(page.rejected)
        sites = Counter(e.site for e in page.events if e.type == "site" and e.site)
        if sites:
            self._unknown.stored(sites)
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
            self._rewind.verified = False  # its log may go back while it is away: check on return
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
