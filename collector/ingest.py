"""Pulling one agent's event log into the store, page by page, and what it tells of the agent.

A page is read from ``GET /api/v1/events?after=CURSOR&limit=N`` (docs/contracts.md) and checked
by :mod:`pantau.collector.pagecheck`. Pages are stored with their cursor in one transaction
(:meth:`Store.ingest`), so a crash anywhere neither loses nor repeats an event. Around that:

* answers are read up to ``max_page_bytes``; a page that is not one is that agent's error;
* the agent's clock offset is measured at every pull (its ``now``, halfway through the request);
* the identity answering at a URL (agent name and log id) is pinned by the stored cursor: another
  one is refused and reported until an operator accepts it (:meth:`Puller.accept_identity`);
* a log that went back in time (restored from a backup, last writes lost in a power cut: its
  high-water mark below the cursor) is detected; the events after the point where it differs
  from what was stored are read again under a new segment of the log id, never skipped;
* events of sites the collector does not know are stored and wait for the site to be added.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import logging
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

import aiohttp

from pantau.collector.agentclient import failure_detail
from pantau.collector.pagecheck import BadPage, Checks, Page, check_page, parse_page
from pantau.collector.store import Store
from pantau.collector.store.cursors import Cursor
from pantau.errors import StoreError
from pantau.events import Event
from pantau.urls import redact_url

log = logging.getLogger(__name__)

#: Pages read from one agent per round at most, so one busy agent cannot starve the others.
MAX_PAGES_PER_ROUND = 100
#: Reasons of events_lost_total: dropped by the agent's retention before they were read; recorded
#: by an agent whose log then went back in time before they were read.
LOST_REASONS = ("retention", "log_went_back")


@dataclasses.dataclass(slots=True)
class AgentHealth:
    """What the collector knows of one agent, for metrics, ``/healthz`` and ``/api/v1/agents``."""

    source: str
    name: str | None = None
    up: bool | None = None
    caught_up: float | None = None  # last time a pull ended with nothing more to read
    ingested: int = 0
    rejected: Counter[str] = dataclasses.field(default_factory=Counter)
    missed: int = 0
    down_since: float | None = None  # when the current unreachable period began
    error: str | None = None  # why the last pull failed, while it is unreachable
    clock_offset: float | None = None  # agent clock minus collector clock, last pull
    lost: Counter[str] = dataclasses.field(default_factory=Counter)
    held: dict[str, int] = dataclasses.field(default_factory=dict)  # future, unknown_site
    conflict: str | None = None  # the identity answering at source, when not the pinned one

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
        self._site_events: Counter[str] = site_events or Counter()
        self._told_unknown: set[str] = set()
        self._last_hw: tuple[int, float] | None = None  # agent high-water, when read
        self._verified = False  # the event at our cursor compared with the stored one
        self._refusing: str | None = None  # why the last page was refused, until a good one
        self._unjudged = False  # a first pull's events stored unjudged was said
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
        self._sites, self._limit, self._skew, self._max_bytes = sites, limit, skew, max_bytes
        self._timeout = None if timeout is None else aiohttp.ClientTimeout(total=timeout)
        self._count_unknown()

    def _count_unknown(self) -> None:
        held = {s: n for s, n in self._site_events.items() if s not in self._sites}
        self.health.held["unknown_site"] = sum(held.values())
        for site in sorted(set(held) - self._told_unknown):
            log.warning(
                "events kept for a site not in the inventory agent=%s site=%s events=%d "
                "detail=applied when the site is added",
                self.health.label,
                site,
                held[site],
            )
        self._told_unknown = set(held)

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
            self._measure_clock(obj.get("now") or date, sent, received)
            if not self._identity_ok(obj):
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
            if not self._clock_judgeable(obj):
                return stored_any
            try:
                page = await asyncio.to_thread(check_page, obj, after, self._checks())
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

    def _checks(self) -> Checks:
        offset = self.health.clock_offset
        behind = offset is not None and offset < -self._skew
        fresh = self._last_hw
        return Checks(
            self._clock(),
            self._skew,
            fresh[0] if fresh else None,
            fresh[1] if fresh else 0.0,
            behind,
            clock_right=offset is not None and abs(offset) <= self._skew,
        )

    def _clock_judgeable(self, obj: dict[str, Any]) -> bool:
        """Whether this page's times can be checked against the agent's clock; else hold it.

        The offset is measured on the pull itself (the page's ``now``, else its ``Date``), before
        any event of it is checked. An agent whose clock could never be measured (an answer with
        neither, e.g. through a proxy that strips ``Date``) has its events held, not stored
        unjudged. A first pull whose offset is beyond ``clock_skew`` cannot tell the events its
        clock dated wrong from older ones: they are stored, said once in the log, and the offset
        (metric, ``/healthz``, alert) tells the operator (docs/contracts.md).
        """
        events = obj["events"]
        offset = self.health.clock_offset
        if offset is None:
            if events and not self.health.held.get("clock_unmeasured"):
                log.warning(
                    "events held: the agent's clock cannot be measured agent=%s events=%d "
                    "detail=its answers carry neither 'now' nor a Date header",
                    obj["agent"],
                    len(events),
                )
            self.health.held["clock_unmeasured"] = len(events)
            return not events
        self.health.held.pop("clock_unmeasured", None)
        if self._last_hw is None and events and abs(offset) > self._skew and not self._unjudged:
            self._unjudged = True
            log.warning(
                "first pull from an agent whose clock is off: its earlier events cannot be "
                "judged and are stored as dated agent=%s offset_seconds=%.1f events=%d",
                obj["agent"],
                offset,
                len(events),
            )
        return True

    def _measure_clock(self, agent_now: Any, sent: float, received: float) -> None:
        if isinstance(agent_now, float):
            self.health.clock_offset = agent_now - (sent + received) / 2

    async def _fetch(
        self, session: aiohttp.ClientSession, after: int, limit: int
    ) -> tuple[bytes, float | None]:
        """The body (at most ``max_page_bytes``) and the answer's Date, as Unix seconds."""
        url = f"{self.source}/api/v1/events"
        params = {"after": after, "limit": limit}
        timeout = self._timeout or session.timeout
        async with session.get(url, params=params, timeout=timeout) as resp:
            if resp.status != 200:
                head = await resp.content.read(200)
                raise aiohttp.ClientResponseError(
                    resp.request_info,
                    (),
                    status=resp.status,
                    message=head.decode(errors="replace"),
                )
            too_big = BadPage("too_large", f"answer larger than {self._max_bytes} bytes")
            if (resp.content_length or 0) > self._max_bytes:
                raise too_big
            body = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > self._max_bytes:
                    raise too_big
            return bytes(body), _date(resp.headers.get("Date"))

    # -- identity -------------------------------------------------------------------------

    def _identity_ok(self, obj: dict[str, Any]) -> bool:
        """Whether the page comes from the pinned identity; else refuse it and say so."""
        cur, seen = self._cursor, (obj["agent"], obj["log_id"])
        if cur is None or (cur.agent, cur.log_id) == seen:
            if self.health.conflict:
                log.info("agent identity as pinned again agent=%s source=%s", seen[0], self.source)
            self.health.conflict = None
            return True
        detail = f"agent {seen[0]!r} log {seen[1]!r}"
        if self.health.conflict != detail:
            log.error(
                "agent identity changed, pages refused agent=%s log_id=%s source=%s "
                "answering_agent=%s answering_log_id=%s fix=%s",
                cur.agent,
                cur.log_id,
                self.source,
                seen[0],
                seen[1],
                "if this is the same agent with a new state directory, accept it: "
                f'POST /api/v1/agents/accept {{"source": "{self.source}"}}',
            )
        self.health.conflict = detail
        self.health.rejected["identity"] += 1
        return False

    async def accept_identity(self, session: aiohttp.ClientSession) -> str | None:
        """Adopt the identity now answering at the source (an operator's decision).

        Its log is read from the start, under its own log id; what the old log had beyond the
        cursor and the collector never read is counted lost. Returns the identity accepted.
        """
        if self.health.conflict is None or self._cursor is None:
            return None
        body, _ = await self._fetch(session, 0, 1)
        obj = parse_page(body)
        old, now = self._cursor, self._clock()
        lost = max(0, self._last_hw[0] - old.next) if self._last_hw else 0
        new = Cursor(
            self.source, obj["agent"], obj["log_id"], 0, now, lost, obj["log_id"], went_back=lost
        )
        async with self._lock:
            await asyncio.to_thread(self._store.put_cursor, new)
        log.warning(
            "agent identity accepted source=%s old_agent=%s old_log_id=%s agent=%s log_id=%s",
            self.source,
            old.agent,
            old.log_id,
            new.agent,
            new.log_id,
        )
        new = dataclasses.replace(new, missed=0, went_back=0)  # counted: not added again
        self._cursor, self._last_hw, self.health.conflict = new, None, None
        self.health.name = new.agent
        if lost:
            self.health.lost["log_went_back"] += lost
        return f"{new.agent} {new.log_id}"

    # -- a log that went back in time ---------------------------------------------------------

    async def _went_back(
        self, session: aiohttp.ClientSession, obj: dict[str, Any], after: int
    ) -> bool:
        """Detect a log that went back; then move the cursor to where it differs. True if moved."""
        cur, hw = self._cursor, obj.get("high_water")
        if cur is None or not after:
            self._verified = True
            return False
        back = hw is not None and hw < after
        if not back and not self._verified:
            # Once per start and reconnection: the log may have gone back and grown past our
            # cursor while we were away. The event at our cursor must still be the one stored.
            self._verified = True
            back = not await self._same(session, after)
        if not back:
            return False
        top = min(after, hw) if hw is not None else after
        first = await self._first_different(session, max(obj["oldest"], 1), top)
        generation = int(cur.key.rsplit(".", 1)[1]) + 1 if cur.key != cur.log_id else 1
        segment = f"{cur.log_id}.{generation}"
        lost = max(0, self._last_hw[0] - after) if self._last_hw else 0
        moved = dataclasses.replace(
            cur, next=first - 1, updated=self._clock(), missed=lost, segment=segment, went_back=lost
        )
        async with self._lock:
            await asyncio.to_thread(self._store.put_cursor, moved)
        log.error(
            "agent log went back in time agent=%s source=%s cursor=%d high_water=%s "
            "rereading_after=%d segment=%s lost=%d",
            cur.agent,
            self.source,
            after,
            hw,
            first - 1,
            segment,
            lost,
        )
        if lost:
            self.health.lost["log_went_back"] += lost
        self._cursor, self._last_hw = dataclasses.replace(moved, missed=0, went_back=0), None
        return True

    async def _same(self, session: aiohttp.ClientSession, cursor: int) -> bool:
        """Whether the agent's event at ``cursor`` is the one stored (True when unknowable)."""
        assert self._cursor is not None
        stored = await asyncio.to_thread(
            self._store.event_at, self._cursor.agent, self._cursor.log_id, cursor
        )
        if stored is None:
            return True
        body, _ = await self._fetch(session, cursor - 1, 1)
        obj = parse_page(body)
        if obj["oldest"] > cursor:
            return True  # pruned by retention: nothing to compare
        items = [e for e in obj["events"] if isinstance(e, dict) and e.get("cursor") == cursor]
        try:
            theirs = Event.from_json(items[0]) if items else None
        except ValueError:
            return False
        return theirs == stored

    async def _first_different(self, session: aiohttp.ClientSession, low: int, high: int) -> int:
        """The first cursor in ``low..high`` whose event differs from the stored one (binary
        search: a restored log is a prefix of the old one); ``high + 1`` if none does."""
        while low <= high:
            mid = (low + high) // 2
            if await self._same(session, mid):
                low = mid + 1
            else:
                high = mid - 1
        return low

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
            self._site_events.update(sites)
            if set(sites) - set(self._sites):
                self._count_unknown()
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
            self._verified = False  # its log may go back while it is away: check on return
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


def _date(header: str | None) -> float | None:
    """An HTTP Date header as Unix seconds, at the middle of its second; None if unusable."""
    if not header:
        return None
    try:
        return email.utils.parsedate_to_datetime(header).timestamp() + 0.5
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
