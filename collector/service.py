"""The collector's run loop: pull every agent, derive outages of changed sites, keep a view.

The view (decided timelines of every site, maintenance windows, agent health) is rebuilt from the
store at start and updated after each round; the API and the metrics read it, never the network.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

import aiohttp

from pantau.collector.agentclient import agent_session
from pantau.collector.agenthealth import AgentHealth
from pantau.collector.audit import AuditRecord
from pantau.collector.availability import Maintenance, config_maintenance
from pantau.collector.health import (
    AGENT_PROBLEM_AFTER,
    Problem,
    agent_problems,
    evidence_problems,
    removal_refused,
)
from pantau.collector.ingest import Puller
from pantau.collector.outages import Decision, OutageParams, SiteRef, decide
from pantau.collector.store import Store
from pantau.config import CollectorConfig
from pantau.errors import ConfigError, StoreError
from pantau.inventory import Site

log = logging.getLogger(__name__)

#: Agents pulled at once.
MAX_PULLS = 16


def site_refs(sites: Iterable[Site]) -> dict[str, SiteRef]:
    return {s.id: SiteRef(s.id, s.parent, s.district, s.ups) for s in sites}


def params_of(config: CollectorConfig) -> OutageParams:
    return OutageParams(config.quorum, config.flap_window, config.flap_threshold)


def _closure(sites: Iterable[str], refs: Mapping[str, SiteRef]) -> set[str]:
    """``sites`` and every site below them (a parent's change relabels its children) or powered
    by them (a UPS site's evidence is that of the sites naming it as ``ups``)."""
    children: dict[str, list[str]] = {}
    for ref in refs.values():
        for up in (ref.parent, ref.ups):
            if up:
                children.setdefault(up, []).append(ref.id)
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
        For the re-derived sites, their parents and their UPS sites.
    """
    dirty = store.dirty()
    affected = _closure(dirty, refs)
    needed = affected | {
        p for s in affected for p in (refs[s].parent, refs[s].ups) if p is not None and p in refs
    }
    down = store.agent_down()
    events = store.events_for(needed, down)  # with every agent event: isolation for the view
    decision = decide(events, [refs[s] for s in sorted(needed)], params, down)
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
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.sites = {s.id: s for s in sites}
        #: District names by id (from the ``[geo]`` layer; empty without one).
        self.district_names: Mapping[str, str] = dict(names or {})
        self.refs = site_refs(self.sites.values())
        self.params = params_of(config)
        self.decision = Decision({}, {}, {})
        self.maintenance: list[Maintenance] = []
        self.ready = False
        self._lock = asyncio.Lock()
        self._round_lock = asyncio.Lock()  # a reload waits for the round in progress
        self._wake = asyncio.Event()  # set by a reload: pull at once with the new settings
        self._rederive = False  # every site to re-derive (a reload changed sites or parameters)
        self.pullers: list[Puller] = []
        self._site_events: dict[str, Counter[str]] = {}  # stored site events, agent -> site

    @property
    def agents(self) -> list[AgentHealth]:
        return [p.health for p in self.pullers]

    async def start(self) -> None:
        """Load cursors and maintenance, re-derive every site once (crash recovery)."""
        counts = await asyncio.to_thread(self.store.site_event_counts)
        for (agent, site), n in counts.items():
            self._site_events.setdefault(agent, Counter())[site] = n
        self.pullers = await self._pullers(self.config.agents, {})
        await asyncio.to_thread(self.store.mark_dirty, self.refs)
        await self._refresh()
        await self._load_maintenance()

    async def _pullers(self, urls: Iterable[str], running: Mapping[str, Puller]) -> list[Puller]:
        """A puller per URL: the running one if any, else a new one from its stored cursor."""
        cursors = await asyncio.to_thread(self.store.cursors)
        down = await asyncio.to_thread(self.store.agent_down)
        out = []
        for url in urls:
            p = running.get(url.rstrip("/"))
            if p is None:
                cur = cursors.get(url.rstrip("/"))
                p = Puller(
                    url,
                    self.store,
                    self.refs,
                    limit=self.config.page_limit,
                    skew=self.config.clock_skew,
                    clock=self.clock,
                    write_lock=self._lock,
                    cursor=cur,
                    timeout=self.config.agent_timeout,
                    max_bytes=self.config.max_page_bytes,
                    site_events=self._site_events.get(cur.agent) if cur else None,
                )
                if cur and down.get(cur.agent) and down[cur.agent][-1][1] is None:
                    p.health.up = False
                    p.health.down_since = down[cur.agent][-1][0]
            out.append(p)
        return out

    async def reconfigure(
        self,
        config: CollectorConfig,
        sites: Iterable[Site],
        names: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Apply a reloaded ``[collector]`` section and inventory; return what changed.

        Agents added are pulled from their stored cursor (or from the start), agents removed
        are no longer pulled and, from now on, no longer vote (recorded as unreachable, as for
        an agent the collector cannot reach); their events and every outage stay in the store.
        A changed inventory or outage parameters re-derive every site. ``listen`` and the
        database cannot change here: the caller keeps the running ones (restart needed).
        """
        sites_by_id = {s.id: s for s in sites}
        removed = removal_refused(set(self.sites), set(sites_by_id), config.max_site_removal)
        if removed:
            raise ConfigError(removed)
        async with self._round_lock:
            if names is not None:
                self.district_names = dict(names)
            return await self._reconfigure(config, sites_by_id)

    async def _reconfigure(self, config: CollectorConfig, sites: dict[str, Site]) -> list[str]:
        changed = [
            k for k in CollectorConfig.model_fields if getattr(config, k) != getattr(self.config, k)
        ]
        if sites != self.sites:
            changed.append("inventory")
        running = {p.source: p for p in self.pullers}
        wanted = {u.rstrip("/") for u in config.agents}
        removed = [p for s, p in running.items() if s not in wanted]
        self.config = config
        gone = sorted(set(self.sites) - set(sites))
        if sites != self.sites:
            self.sites, self.refs = sites, site_refs(sites.values())
        pullers = await self._pullers(config.agents, running)
        for p in pullers:
            p.configure(
                self.refs,
                limit=config.page_limit,
                skew=config.clock_skew,
                timeout=config.agent_timeout,
                max_bytes=config.max_page_bytes,
            )
        self.pullers = pullers  # the next round pulls these; one running now finishes
        for p in removed:
            log.info("agent no longer pulled agent=%s source=%s", p.health.label, p.source)
            self.store.health.forget(f"ingest {p.source}")
            if p.health.name is not None and p.health.up is not False:
                try:
                    async with self._lock:
                        await asyncio.to_thread(
                            self.store.agent_status, p.health.name, self.clock(), False
                        )
                except StoreError as exc:
                    log.error("store failed agent=%s error=%s", p.health.label, exc)
        if gone:
            # A removed site is no longer watched: an outage still open ends now, so that the
            # history does not keep it down forever (its agents' "removed" events may come
            # after this reload and would be refused as events of an unknown site).
            try:
                async with self._lock:
                    ended = await asyncio.to_thread(self.store.end_open_outages, gone, self.clock())
                if ended:
                    log.info("open outages of removed sites ended count=%d sites=%s", ended, gone)
            except StoreError as exc:
                log.error("ending the outages of removed sites failed error=%s", exc)
        params = params_of(config)
        if params != self.params or "inventory" in changed or removed:
            self.params, self._rederive = params, True
            try:
                await self._refresh()
            except StoreError as exc:  # the store failing is not the config's fault
                log.error("re-derivation failed, retried next round error=%s", exc)
        try:
            await self._load_maintenance()
        except StoreError as exc:
            log.error("reading maintenance windows failed error=%s", exc)
        self._wake.set()
        return changed

    def problems(self, now: float | None = None) -> list[Problem]:
        """What is wrong now: failing store writes, agents not pulled for a while, agents'
        clocks off, identities refused, events lost or held."""
        now = self.clock() if now is None else now
        after = max(AGENT_PROBLEM_AFTER, 3 * self.config.pull_interval)
        return [
            *self.store.health.problems(),
            *agent_problems(self.agents, now, after),
            *evidence_problems(self.agents, self.config.clock_skew, now),
        ]

    async def accept_identity(self, source: str) -> str | None:
        """Adopt the identity now answering at ``source`` (see :meth:`Puller.accept_identity`).

        Returns the identity accepted, None when ``source`` is pulled without a conflict.

        Raises
        ------
        KeyError
            ``source`` is not an agent this collector pulls.
        """
        by_source = {p.source: p for p in self.pullers}
        puller = by_source[source.rstrip("/")]
        async with self._round_lock, agent_session(self.config) as session:
            return await puller.accept_identity(session)

    async def _refresh(self) -> None:
        """Re-derive what changed, or every site after a reload changed sites or parameters."""
        full = self._rederive
        if full:
            await asyncio.to_thread(self.store.mark_dirty, self.refs)
        async with self._lock:
            d = await asyncio.to_thread(refresh, self.store, self.refs, self.params, self.clock())
        self._rederive = False
        old = Decision({}, {}, {}) if full else self.decision
        self.decision = Decision(
            {**old.timelines, **d.timelines},
            {**old.outages, **d.outages},
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
                try:
                    await p.pull(session)
                except Exception:  # one agent's answer must never stop the others: its error
                    log.exception("pull failed, retried next round agent=%s", p.health.label)

        async with self._round_lock:
            await asyncio.gather(*(one(p) for p in self.pullers))
            try:
                await self._refresh()
            except StoreError as exc:
                log.error("outage derivation failed error=%s", exc)
            except Exception:  # a bug must not end the collector: pulls go on, retried next round
                log.exception("outage derivation failed, retried next round")

    async def add_maintenance(
        self, window: Maintenance, audit: AuditRecord | None = None
    ) -> Maintenance:
        async with self._lock:
            wid = await asyncio.to_thread(self.store.add_maintenance, window, "api", audit)
        await self._load_maintenance()
        return dataclasses.replace(window, id=wid)

    async def delete_maintenance(self, wid: int, audit: AuditRecord) -> bool:
        """Delete stored window ``wid`` (recording ``audit``); False when there is none."""
        async with self._lock:
            gone = await asyncio.to_thread(self.store.delete_maintenance, wid, audit)
        await self._load_maintenance()
        return gone

    async def _load_maintenance(self) -> None:
        # Config windows stay in memory: regional collectors sharing a database each have their
        # own; windows added through the API are stored and seen by all.
        stored = await asyncio.to_thread(self.store.maintenance)
        self.maintenance = [*config_maintenance(self.config), *stored]

    async def run(self, stop: asyncio.Event) -> None:
        """Pull every ``pull_interval`` seconds until ``stop`` is set."""
        async with agent_session(self.config) as session:
            while not stop.is_set():
                started = self.clock()
                self._wake.clear()
                await self.round(session)
                wait = max(0.0, self.config.pull_interval - (self.clock() - started))
                await self._sleep(stop, wait)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Until ``stop``, a reload (:meth:`reconfigure` wakes the loop) or ``seconds``."""
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
