"""The agent's one Prometheus collector, built at scrape time from the latest results.

Counters and gauges the runtime updates live in :class:`AgentStats`; probe results and states
live in the runtime. Everything runs on one event loop, so a scrape reads a consistent view and
never races a probe. Nothing is registered on the global registry: the runtime makes its own
``CollectorRegistry`` and registers one :class:`AgentCollector` on it.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pantau.agent.probes import ProbeResult
from pantau.agent.state import SiteState
from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pantau.inventory import Site

#: Buckets of the scheduling lag histogram: a healthy agent starts rounds within milliseconds.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, float("inf"))


def _lag_histogram() -> Histogram:
    # registry=None: the histogram is exported through AgentCollector, never globally.
    return Histogram(
        "pantau_agent_scheduling_lag_seconds",
        "Start delay of a round after its due time",
        ["kind"],
        buckets=LAG_BUCKETS,
        registry=None,
    )


@dataclasses.dataclass
class AgentStats:
    """The agent's own health counters, updated by the runtime and the scheduler."""

    rounds: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    overruns: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    probe_errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    events: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    failures: collections.Counter[tuple[str, str, str]] = dataclasses.field(
        default_factory=collections.Counter
    )
    round_duration: dict[str, float] = dataclasses.field(default_factory=dict)
    lag: Histogram = dataclasses.field(default_factory=_lag_histogram)

    def forget_site(self, site: str) -> None:
        """Drop a removed site's failure counters so its series disappear."""
        for key in [k for k in self.failures if k[0] == site]:
            del self.failures[key]


class MetricsSource(Protocol):
    """What the collector reads; the agent runtime provides it."""

    agent_name: str
    version: str
    stats: AgentStats
    sites: Mapping[str, Site]
    states: Mapping[str, SiteState]
    results: Mapping[tuple[str, str], ProbeResult]
    canaries: Mapping[str, bool]
    isolated: bool | None  # None until the canaries were probed once

    def probers(self) -> Iterable[Any]: ...


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(
    name: str, doc: str, labels: list[str], values: Mapping[Any, float]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


class AgentCollector(Collector):
    """Yields every agent metric of docs/contracts.md plus each prober's own ``collect()``."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        src = self._source
        yield from self._probes(src)
        yield from self._sites(src)
        yield from self._agent(src)
        for prober in src.probers():
            collect = getattr(prober, "collect", None)
            if collect is not None:
                yield from collect()

    @staticmethod
    def _probes(src: MetricsSource) -> Iterable[Metric]:
        success = _gauge(
            "pantau_probe_success", "Last round of this probe: 1 ok, 0 failed", ["site", "probe"]
        )
        duration = _gauge(
            "pantau_probe_duration_seconds",
            "How long the last round of this probe took",
            ["site", "probe"],
        )
        for (site, probe), result in sorted(src.results.items()):
            success.add_metric([site, probe], 1.0 if result.ok else 0.0)
            duration.add_metric([site, probe], result.duration)
        yield success
        yield duration
        yield _counter(
            "pantau_probe_failures_total",
            "Failed rounds by reason",
            ["site", "probe", "reason"],
            src.stats.failures,
        )

    @staticmethod
    def _sites(src: MetricsSource) -> Iterable[Metric]:
        up = _gauge("pantau_site_up", "Site state: 1 up, 0 down; absent while unknown", ["site"])
        for site_id, state in sorted(src.states.items()):
            if state.state != "unknown":
                up.add_metric([site_id], 1.0 if state.state == "up" else 0.0)
        info = _gauge(
            "pantau_site_info",
            "Site attributes for joins and maps (value 1)",
            ["site", "name", "kind", "district", "parent", "lat", "lon"],
        )
        for s in sorted(src.sites.values(), key=lambda s: s.id):
            info.add_metric(
                [s.id, s.name, s.kind, s.district or "", s.parent or "", str(s.lat), str(s.lon)],
                1.0,
            )
        sites = _gauge("pantau_agent_sites", "Sites in the loaded inventory")
        sites.add_metric([], float(len(src.sites)))
        return [up, info, sites]

    @staticmethod
    def _agent(src: MetricsSource) -> Iterable[Metric]:
        stats = src.stats
        info = _gauge(
            "pantau_agent_info", "The agent's name and version (value 1)", ["agent", "version"]
        )
        info.add_metric([src.agent_name, src.version], 1.0)
        yield info
        if src.isolated is not None:
            isolated = _gauge("pantau_agent_isolated", "1 while every canary fails")
            isolated.add_metric([], 1.0 if src.isolated else 0.0)
            yield isolated
        canary = _gauge("pantau_canary_up", "Last canary result: 1 answered, 0 not", ["target"])
        for target, ok in sorted(src.canaries.items()):
            canary.add_metric([target], 1.0 if ok else 0.0)
        yield canary
        yield _counter(
            "pantau_agent_rounds_total", "Rounds run per probe kind", ["kind"], stats.rounds
        )
        yield _counter(
            "pantau_agent_round_overruns_total",
            "Rounds skipped because the previous one still ran",
            ["kind"],
            # A kind that has run but never overrun shows 0, so panels and rate() have a series.
            {**dict.fromkeys(stats.rounds, 0.0), **stats.overruns},
        )
        duration = _gauge("pantau_agent_round_duration_seconds", "Last round's duration", ["kind"])
        for kind, seconds in sorted(stats.round_duration.items()):
            duration.add_metric([kind], seconds)
        yield duration
        yield from stats.lag.collect()
        yield _counter(
            "pantau_agent_probe_errors_total",
            "Bugs and setup errors inside probes (not network failures)",
            ["kind"],
            {**dict.fromkeys(stats.rounds, 0.0), **stats.probe_errors},
        )
        yield _counter(
            "pantau_agent_events_total",
            "State changes appended to the event log",
            ["type"],
            {**dict.fromkeys(("probe", "site", "agent"), 0.0), **stats.events},
        )
