"""The agent process: wires config, inventory, probers, state, event log, metrics and HTTP.

Lifecycle: :meth:`Agent.run` loads everything, serves, schedules rounds and waits for SIGTERM or
SIGINT; SIGHUP reloads config and inventory in place (:meth:`Agent.reload`). Decisions are made
by :mod:`pantau.agent.runtime.state`; this module only moves results and events between the parts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from pantau import __version__
from pantau.agent.icmp.tracing import Tracer
from pantau.agent.probes import ProbeJob, ProbeResult
from pantau.agent.runtime.eventlog import EventLog, Retention
from pantau.agent.runtime.exposition import TextFamily
from pantau.agent.runtime.health import Problem, eventlog_problems, round_problems
from pantau.agent.runtime.heartbeat import Heartbeat
from pantau.agent.runtime.metrics import AgentCollector, AgentStats, SiteFamilies
from pantau.agent.runtime.power import power_events
from pantau.agent.runtime.probers import ProberSet
from pantau.agent.runtime.recorder import Recorder
from pantau.agent.runtime.scheduler import RoundScheduler
from pantau.agent.runtime.server import make_app, start_server
from pantau.agent.runtime.state import (
    Hysteresis,
    SiteState,
    Stamp,
    apply_results,
    is_isolated,
    isolation_event,
    reconcile,
)
from pantau.config import Config, load_config
from pantau.errors import ConfigError, PantauError, ProbeSetupError
from pantau.events import Event
from pantau.inventory import Inventory, ProbeSpec, Site
from pantau.webconfig import load_web_config, warn_if_exposed

log = logging.getLogger(__name__)

#: ``[agent]`` keys a reload cannot change (the running values stay until a restart).
_RESTART_KEYS = ("name", "listen", "state_dir", "web_config", "heartbeat")

#: Seconds a running round may still take at stop before it is cancelled.
STOP_GRACE = 10.0


def jobs_by_kind(sites: Iterable[Site]) -> dict[str, list[ProbeJob]]:
    """Every probe of every site as a job, grouped by probe kind (inventory order)."""
    jobs: dict[str, list[ProbeJob]] = defaultdict(list)
    names = _ProbeNames()
    for site in sites:
        for spec in site.probes:
            jobs[spec.kind].append(ProbeJob(site.id, names(spec), spec.arg, site.address))
    return dict(jobs)


class _ProbeNames(dict[ProbeSpec, str]):
    """A probe's text form, one string object per distinct probe (not one per site)."""

    def __call__(self, spec: ProbeSpec) -> str:
        name = self.get(spec)
        if name is None:
            name = self[spec] = str(spec)
        return name


def _kept(result: ProbeResult, seen: dict[tuple[Any, ...], ProbeResult]) -> ProbeResult:
    """What the agent keeps of a result until the next round: what ``/metrics`` exports of it
    (ok, reason, duration, time), one shared object per distinct value in a round (issue 18:
    an ICMP round's good results are all alike), without RTTs, payload or message."""
    key = (result.ok, result.reason, result.duration, result.time)
    kept = seen.get(key)
    if kept is None:
        kept = seen[key] = ProbeResult(*key)
    return kept


class Agent:
    """One agent: the :class:`~pantau.agent.runtime.metrics.MetricsSource` the collector reads.

    Parameters
    ----------
    config_path
        The TOML config file; read again on SIGHUP.
    clock
        Wall-clock time source for events and probes.
    """

    def __init__(self, config_path: Path, clock: Callable[[], float] = time.time) -> None:
        self._path = Path(config_path)
        self._clock = clock
        self.version = __version__
        self.stats = AgentStats()
        self.agent_name = ""
        self.sites: dict[str, Site] = {}
        self.states: dict[str, SiteState] = {}
        self._power: dict[tuple[str, str], tuple[bool, float]] = {}  # runtime/power.py
        self.results: dict[tuple[str, str], ProbeResult] = {}
        self.canaries: dict[str, bool] = {}
        self.isolated: bool | None = None
        self._config: Config | None = None
        self._hysteresis = Hysteresis(3, 2)
        self._jobs: dict[str, list[ProbeJob]] = {}
        self._canary_targets: tuple[str, ...] = ()
        self._probers = ProberSet(self.stats, clock)
        self._site_families = SiteFamilies()
        self._reload_lock = asyncio.Lock()
        self._generation = 0  # configs applied (the per-site families' render key)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scheduler = RoundScheduler(self.run_round, self.stats)

    def probers(self) -> Iterable[Any]:
        """The probers, whose own ``collect()`` the metrics collector includes."""
        return list(self._probers.values())

    def families(self) -> list[TextFamily]:
        """The per-site metric families, a snapshot of now (streamed by ``/metrics``)."""
        stale = self._scheduler.stale()
        out = self._site_families(self, stale)  # type: ignore[arg-type]  # dicts as the Mappings
        for kind, prober in self._probers.items():
            families = getattr(prober, "families", None)
            if kind in stale:  # its per-site figures are old: no data, not current
                continue
            if families is not None:
                out.extend(families())
        return out

    def render_key(self) -> Hashable:
        """Changes whenever :meth:`families` would: a round finished, a reload, staleness."""
        return (
            tuple(sorted(self.stats.rounds.items())),
            self._generation,
            tuple(sorted(self._scheduler.stale())),
        )

    def problems(self) -> list[Problem]:
        """What ``/healthz`` reports now."""
        return eventlog_problems(self._recorder.health()) + round_problems(
            self._scheduler.stale(), self._scheduler.intervals()
        )

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code."""
        config = load_config(self._path)
        inventory = self._inventory(config)
        agent = config.agent
        self.agent_name = agent.name
        web = None if agent.web_config is None else load_web_config(agent.web_config)
        warn_if_exposed(agent.listen, web, "agent")
        retention = Retention(agent.event_retention_days * 86400, agent.event_retention_max)
        eventlog = EventLog(agent.state_dir / "events.db", retention, self._clock)
        self._recorder = Recorder(
            eventlog, self.stats, limit=agent.event_pending_max, clock=self._clock
        )
        self._tracer = Tracer()
        registry = CollectorRegistry()
        registry.register(AgentCollector(self))  # type: ignore[arg-type]  # dicts as Mappings
        try:
            runner = await start_server(
                make_app(
                    registry,
                    eventlog,
                    agent.name,
                    self.families,
                    health=self.problems,
                    dropped=lambda: self._recorder.health().dropped,
                    render_key=self.render_key,
                ),
                agent.listen,
                web,
            )
        except OSError as exc:
            eventlog.close()
            raise ProbeSetupError(f"cannot listen on {agent.listen}: {exc}") from exc
        self._recorder.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._spawn_reload)
        try:
            await self._apply(config, inventory)
            self._scheduler.start()
            beat = Heartbeat(
                agent.heartbeat,
                lambda: tuple(sorted(self.stats.rounds.items())),
                self._scheduler.stale,
                lambda: (self.agent_name, self._clock(), bool(self.isolated)),
                self._recorder.record,
            )
            self._tasks.add(asyncio.create_task(beat.run(), name="heartbeat"))
            log.info(
                "agent started name=%s listen=%s sites=%d log_id=%s",
                agent.name,
                agent.listen,
                len(self.sites),
                eventlog.log_id,
            )
            _log_first_states(config, self._jobs)
            await stop.wait()
            log.info("agent stopping name=%s", agent.name)
        finally:
            # The handlers stay until the event log is closed: a second SIGTERM (systemd signals
            # every process of the unit, `pantau run` its children) must not end the agent with
            # recorded events still pending.
            for task in self._tasks:
                task.cancel()
            await self._scheduler.stop(STOP_GRACE)
            await self._recorder.close(timeout=STOP_GRACE)
            await self._probers.aclose()
            await runner.cleanup()
            eventlog.close()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        log.info("agent stopped name=%s", agent.name)
        return 0

    def _spawn_reload(self) -> None:
        task = asyncio.create_task(self.reload(), name="reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> None:
        """Read config and inventory again; keep the running ones if the config is invalid."""
        async with self._reload_lock:
            try:
                config = load_config(self._path)
            except ConfigError as exc:
                for line in exc.problems:
                    log.error("reload refused, keeping the running config problem=%s", line)
                return
            old = self._config
            assert old is not None
            for key in _RESTART_KEYS:
                if getattr(old.agent, key) != getattr(config.agent, key):
                    log.warning("reload cannot change this, restart the agent key=agent.%s", key)
            config = config.model_copy(
                update={
                    "agent": config.agent.model_copy(
                        update={k: getattr(old.agent, k) for k in _RESTART_KEYS}
                    )
                }
            )
            try:
                await self._apply(config, self._inventory(config))
            except PantauError as exc:
                log.error("reload failed error=%s", exc)
                return
            log.info("reloaded path=%s sites=%d", self._path, len(self.sites))

    @staticmethod
    def _inventory(config: Config) -> Inventory:
        inventory = config.load_sites()
        for problem in inventory.problems:
            log.warning("inventory row skipped problem=%s", problem)
        return inventory

    # -- applying a config -----------------------------------------------------------------
    async def _apply(self, config: Config, inventory: Inventory) -> None:
        agent = config.agent
        self._config = config
        self._generation += 1
        self._hysteresis = Hysteresis(agent.down_after, agent.up_after)
        stamp = self._stamp()
        names = _ProbeNames()
        wanted = {s.id: [names(p) for p in s.probes] for s in inventory.sites}
        self.states, events = reconcile(self.states, wanted, stamp)
        for site_id in set(self.sites) - set(wanted):
            self.stats.forget_site(site_id)
        self.sites = inventory.by_id()
        self.results = {
            k: r
            for k, r in self.results.items()
            if k[1] in self.states.get(k[0], SiteState()).probes
        }
        self._jobs = jobs_by_kind(inventory.sites)
        self._canary_targets = agent.canaries
        self.canaries = {t: ok for t, ok in self.canaries.items() if t in agent.canaries}
        if not agent.canaries and self.isolated is not None:
            events += [e for e in [isolation_event(self.isolated, False, stamp)] if e]
            self.isolated = None
        self._recorder.record(events)

        kinds = {k: getattr(agent, k) for k in self._jobs}
        if agent.canaries:  # canaries ride on the ICMP rounds, with or without ICMP sites
            kinds.setdefault("icmp", agent.icmp)
        ready = await self._probers.update(config, kinds)
        for prober in self._probers.values():
            if hasattr(prober, "retain"):  # let the prober forget removed sites' series
                prober.retain(self.sites)
        self._scheduler.apply(ready)

    # -- rounds ----------------------------------------------------------------------------
    def _stamp(self) -> Stamp:
        return Stamp(self.agent_name, self._clock(), bool(self.isolated))

    async def run_round(self, kind: str) -> None:
        """Run one round of ``kind`` (ICMP rounds also sweep the canaries) and record changes."""
        async with self._probers.locks[kind]:
            prober, jobs = self._probers.get(kind), list(self._jobs.get(kind, ()))
            if prober is None:
                return
            canaries = self._canary_targets if kind == "icmp" else ()
            try:
                results, canary_ok = await asyncio.gather(
                    prober.run(jobs) if jobs else _nothing(), self._sweep_canaries(prober, canaries)
                )
            except Exception:  # a bug or setup failure inside the prober, not a network failure
                self.stats.probe_errors[kind] += 1
                log.exception("probe round failed kind=%s jobs=%d", kind, len(jobs))
                return
        events = self._decide(jobs, results, canary_ok)
        try:
            events = await self._add_hops(events)
        finally:
            self._recorder.record(events)

    async def _sweep_canaries(self, prober: Any, targets: Sequence[str]) -> dict[str, bool]:
        """Canary target -> answered; names are resolved first (a failed lookup is a failure)."""
        if not targets:
            return {}
        from pantau.agent.icmp.pinger import resolve

        assert self._config is not None
        settings = self._config.agent.icmp
        ips = await resolve(targets, settings.timeout)
        stats = await prober.sweep({ip for ip in ips.values() if ip}, count=settings.count)
        return {t: bool(ips[t] and stats[ips[t]].received) for t in targets}

    def _decide(
        self,
        jobs: Sequence[ProbeJob],
        results: Mapping[tuple[str, str], ProbeResult],
        canary_ok: Mapping[str, bool],
    ) -> list[Event]:
        events: list[Event] = []
        kept: dict[tuple[Any, ...], ProbeResult] = {}
        if canary_ok:
            self.canaries = dict(canary_ok)
            now_isolated = is_isolated(self.canaries)
            change = isolation_event(
                bool(self.isolated),
                now_isolated,
                Stamp(self.agent_name, self._clock(), now_isolated),
            )
            self.isolated = now_isolated
            if change is not None:
                log.warning("agent isolation changed isolated=%s", now_isolated)
                events.append(change)
        for job in jobs:
            key = job.key
            result = results.get(key)
            if result is None or job.site not in self.states:
                continue
            self.results[key] = _kept(result, kept)
            if not result.ok:
                self.stats.failures[(job.site, job.probe, result.reason)] += 1
        stamp = self._stamp()
        self.states, changes = apply_results(self.states, results, self._hysteresis, stamp)
        self._power, evidence = power_events(self._power, results, self.states, stamp)
        for e in changes:
            if e.type == "site":
                log.info(
                    "site state changed site=%s old=%s new=%s reason=%s",
                    e.site,
                    e.old,
                    e.new,
                    e.reason,
                )
        for e in evidence:
            log.info("site power site=%s probe=%s reason=%s", e.site, e.probe, e.reason)
        changes[:0] = events  # the isolation change first, without copying 100,000 events
        changes.extend(evidence)
        return changes

    async def _add_hops(self, events: list[Event]) -> list[Event]:
        assert self._config is not None
        for e in events:  # a hop describes the current outage only
            if e.type == "site" and e.site and e.new != "down":
                self.stats.last_hops.pop(e.site, None)
        if not self._config.agent.traceroute:
            return events
        down = {
            e.site: self.sites[e.site].address
            for e in events
            if e.type == "site" and e.new == "down" and e.site in self.sites
        }
        hops = await self._tracer.last_hops({s: a for s, a in down.items() if a})
        self.stats.last_hops.update({s: h for s, h in hops.items() if h})
        return [
            dataclasses.replace(e, hop=hops.get(e.site or ""))
            if e.type == "site" and e.new == "down"
            else e
            for e in events
        ]


def _log_first_states(config: Config, jobs: Mapping[str, Any]) -> None:
    """Say when the first rounds run and by when every site has left ``unknown``."""
    agent = config.agent
    kinds = {k: getattr(agent, k) for k in jobs}

    def within(rounds: int) -> float:
        # the first round runs now; each later one at most interval * (1 + jitter) after the last
        return max(((rounds - 1) * s.interval * (1 + s.jitter) for s in kinds.values()), default=0)

    log.info(
        "first rounds run now kinds=%s; sites stay unknown until up_after=%d good rounds "
        "(up within seconds=%.0f) or down_after=%d failed rounds (down within seconds=%.0f)",
        ",".join(sorted(kinds)) or "none",
        agent.up_after,
        within(agent.up_after),
        agent.down_after,
        within(agent.down_after),
    )


async def _nothing() -> dict[tuple[str, str], ProbeResult]:
    return {}


def run_agent(config_path: Path) -> int:
    """Run an agent until it is stopped (the ``pantau agent`` command)."""
    return asyncio.run(Agent(config_path).run())
