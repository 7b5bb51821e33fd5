"""The collector's run loop: pull every agent, derive outages of changed sites, keep a view.

The view (decided timelines of every site, maintenance windows, agent health) is rebuilt from the
store at start and updated after each round; the API and the metrics read it, never the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping

import aiohttp
from pantau.collector.availability import Maintenance
from pantau.collector.ingest import AgentHealth, Puller
from pantau.collector.outages import Decision, OutageParams, SiteRef, decide
from pantau.collector.store import Store

from pantau.config import CollectorConfig
from pantau.errors import StoreError
from pantau.inventory import Site

log = logging.getLogger(__name__)

#: Agents pulled at once.
MAX_PULLS = 16


def site_refs(sites: Iterable[Site]) -> dict[str, SiteRef]:
    return {s.id: SiteRef(s.id, s.parent, s.district) for s in sites}


def params_of(config: CollectorConfig) -> OutageParams:
    return OutageParams(config.quorum, config.flap_window, config.flap_threshold)


def config_maintenance(config: CollectorConfig) -> list[Maintenance]:
    return [
        Maintenance(w.start.timestamp(), w.end.timestamp(), w.site, w.district, w.reason)
        for w in config.maintenance
    ]


def _closure(sites: Iterable[str], refs: Mapping[str, SiteRef]) -> set[str]:
    """``sites`` and every site below them (a parent's change relabels its children)."""
    children: dict[str, list[str]] = {}
    for ref in refs.values():
        if ref.parent:
            children.setdefault(ref.parent, []).append(ref.id)
    out, todo = set(), [s for s in sites if s in refs]
    while todo:
        site = todo.pop()
        if site not in out:
            out.add(site)
            todo.extend(children.get(site, ()))
    return out


def refresh(
    store: Store, refs: Mapping[str, SiteRef], params: OutageParams, now: float
) -> Decision:
    """Re-derive the outages of the sites the store marked changed (and of their descendants).

    Returns
    -------
    Decision
        For the re-derived sites and their parents.
    """
    dirty = store.dirty()
    affected = _closure(dirty, refs)
    needed = affected | {refs[s].parent for s in affected if refs[s].parent in refs}
    events = store.events_for(needed)  # with every agent event: isolation for the view
    decision = decide(events, [refs[s] for s in sorted(needed)], params, store.agent_down())
    # Unmark only this collector's sites: regional collectors may share one database.
    store.replace_outages({s: decision.outages[s] for s in affected}, dirty & set(refs), now)
    return decision


class Collector:
    """Pulls agents, keeps the store's outages derived and a current view for API and metrics."""

    def __init__(
        self,
        config: CollectorConfig,
        sites: Iterable[Site],
        store: Store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.sites = {s.id: s for s in sites}
        self.refs = site_refs(self.sites.values())
        self.params = params_of(config)
        self.decision = Decision({}, {}, {})
        self.maintenance: list[Maintenance] = []
        self.ready = False
        self._lock = asyncio.Lock()
        self.pullers: list[Puller] = []

    @property
    def agents(self) -> list[AgentHealth]:
        return [p.health for p in self.pullers]

    async def start(self) -> None:
        """Load cursors and maintenance, re-derive every site once (crash recovery)."""
        store = self.store
        cursors = await asyncio.to_thread(store.cursors)
        down = await asyncio.to_thread(store.agent_down)
        self.pullers = []
        for url in self.config.agents:
            cur = cursors.get(url.rstrip("/"))
            p = Puller(
                url,
                store,
                self.refs,
                limit=self.config.page_limit,
                skew=self.config.clock_skew,
                clock=self.clock,
                write_lock=self._lock,
                cursor=cur,
            )
            if cur and down.get(cur.agent) and down[cur.agent][-1][1] is None:
                p.health.up = False
            self.pullers.append(p)
        await asyncio.to_thread(store.mark_dirty, self.refs)
        await self._refresh()
        await self._load_maintenance()

    async def _refresh(self) -> None:
        async with self._lock:
            d = await asyncio.to_thread(refresh, self.store, self.refs, self.params, self.clock())
        self.decision = Decision(
            {**self.decision.timelines, **d.timelines},
            {**self.decision.outages, **d.outages},
            {r.id: r.parent for r in self.refs.values()},
            d.isolation,
        )
        self.ready = True

    def isolated_agents(self, now: float) -> set[str]:
        """Names of the agents whose last word is that they are isolated."""
        return {a for a in self.decision.isolation if self.decision.isolated_at(a, now)}

    async def round(self, session: aiohttp.ClientSession) -> None:
        """Pull every agent once (bounded concurrency), then re-derive what changed."""
        gate = asyncio.Semaphore(MAX_PULLS)

        async def one(p: Puller) -> None:
            async with gate:
                await p.pull(session)

        await asyncio.gather(*(one(p) for p in self.pullers))
        try:
            await self._refresh()
        except StoreError as exc:
            log.error("outage derivation failed error=%s", exc)

    async def add_maintenance(self, window: Maintenance) -> Maintenance:
        async with self._lock:
            wid = await asyncio.to_thread(self.store.add_maintenance, window)
        await self._load_maintenance()
        return dataclasses.replace(window, id=wid)

    async def _load_maintenance(self) -> None:
        # Config windows stay in memory: regional collectors sharing a database each have their
        # own; windows added through the API are stored and seen by all.
        stored = await asyncio.to_thread(self.store.maintenance)
        self.maintenance = [*config_maintenance(self.config), *stored]

    async def run(self, stop: asyncio.Event) -> None:
        """Pull every ``pull_interval`` seconds until ``stop`` is set."""
        timeout = aiohttp.ClientTimeout(total=self.config.agent_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                started = self.clock()
                await self.round(session)
                wait = max(0.0, self.config.pull_interval - (self.clock() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
