"""The agent's metrics, built at scrape time from the latest results.

Counters and gauges the runtime updates live in :class:`AgentStats`; probe results and states
live in the runtime. Two parts make one ``/metrics`` body:

* :class:`AgentCollector`, a ``prometheus_client`` collector for the agent's own families and the
  probers' ``collect()`` (a few series each); the runtime registers it on its own
  ``CollectorRegistry``, never on the global one;
* :class:`SiteFamilies` and the probers' ``families()``: the families with a series per site,
  streamed as text by :mod:`pantau.agent.runtime.exposition` (270,000 samples at 10,000 sites).

A scrape reads a snapshot taken on the event loop, so it never sees half a round.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pantau.agent.probes import ProbeResult
from pantau.agent.runtime.exposition import TextFamily, label_value, number
from pantau.agent.runtime.state import SiteState
from pantau.inventory import Site

#: Reasons of ``pantau_agent_events_dropped_total`` (see pantau.agent.runtime.recorder).
DROP_REASONS = ("probe_detail", "coalesced", "overflow", "stop")
#: Why a probe kind the inventory uses has no prober (``pantau_agent_probe_kind_enabled{reason}``).
PROBE_KIND_REASONS = ("ok", "credentials", "permission", "setup", "module")

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
    round_end: dict[str, float] = dataclasses.field(default_factory=dict)  # monotonic
    events_pending: int = 0  # decided, waiting for the event log
    events_dropped: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    eventlog_up: bool | None = None  # None until the event log is open
    #: Site -> last hop that answered the traceroute run when the site went down (while down).
    last_hops: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Probe kind -> one of PROBE_KIND_REASONS: "ok" while its prober runs, else why not.
    probe_kinds: dict[str, str] = dataclasses.field(default_factory=dict)
    lag: Histogram = dataclasses.field(default_factory=_lag_histogram)

    def forget_site(self, site: str) -> None:
        """Drop a removed site's failure counters and hop so its series disappear."""
        for key in [k for k in self.failures if k[0] == site]:
            del self.failures[key]
        self.last_hops.pop(site, None)


class MetricsSource(Protocol):
    """What the collector reads; the agent runtime provides it.

    ``sites`` and ``states`` are replaced whole when they change, never changed in place, so a
    render reads them as they are; ``results`` and ``stats`` change in place and are copied.
    """

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


_FLAG = ("0.0", "1.0")  # a bool as a sample value


class SiteFamilies:
    """The per-site families of docs/contracts.md, as streamed text (:mod:`.exposition`).

    One call takes a snapshot of the source (copies of the maps a round updates in place) and
    returns families whose lines are formatted while they are written. Nothing is cached here:
    the render that calls this runs once per finished round (pantau.agent.runtime.scrape), and
    a cache of label text was ~15 MiB at 50,000 sites.
    """

    def __call__(self, src: MetricsSource, stale: Collection[str] = ()) -> list[TextFamily]:
        """The families now; results of ``stale`` probe kinds (no round finished for a while)
        are left out, and so is the state of every site with a probe of such a kind: old
        results are no data, never shown as current."""
        results = dict(src.results)
        failures = dict(src.stats.failures)
        states = src.states  # replaced whole by a round, never changed in place
        if stale:
            results = {k: r for k, r in results.items() if _kind(k[1]) not in stale}
            states = {
                s: st for s, st in states.items() if not any(_kind(p) in stale for p in st.probes)
            }
        sites = src.sites  # replaced whole by a reload
        labels = _probe_labels
        return [
            TextFamily(
                "pantau_probe_success",
                "gauge",
                "Last round of this probe: 1 ok, 0 failed",
                (
                    f"pantau_probe_success{{{labels(k)}}} {_FLAG[r.ok]}\n"
                    for k, r in results.items()
                ),
            ),
            TextFamily(
                "pantau_probe_duration_seconds",
                "gauge",
                "How long the last round of this probe took",
                (
                    f"pantau_probe_duration_seconds{{{labels(k)}}} {number(r.duration)}\n"
                    for k, r in results.items()
                ),
            ),
            TextFamily(
                "pantau_probe_failures_total",
                "counter",
                "Failed rounds by reason",
                (
                    f'pantau_probe_failures_total{{probe="{label_value(probe)}",'
                    f'reason="{label_value(reason)}",site="{site}"}} {number(n)}\n'
                    for (site, probe, reason), n in failures.items()
                ),
            ),
            TextFamily(
                "pantau_site_up",
                "gauge",
                "Site state: 1 up, 0 down; absent while unknown",
                (
                    f'pantau_site_up{{site="{site_id}"}} {_FLAG[st.state == "up"]}\n'
                    for site_id, st in states.items()
                    if st.state != "unknown"
                ),
            ),
            TextFamily(
                "pantau_site_info",
                "gauge",
                "Site attributes for joins and maps (value 1)",
                (f"pantau_site_info{{{_info_labels(site)}}} 1.0\n" for site in sites.values()),
            ),
            TextFamily(
                "pantau_site_power_source",
                "gauge",
                "The site whose UPS reading counts for this site (inventory ups; value 1)",
                (
                    f'pantau_site_power_source{{site="{site.id}",ups_site="{site.ups}"}} 1.0\n'
                    for site in sites.values()
                    if site.ups
                ),
            ),
        ]


def _probe_labels(key: tuple[str, str]) -> str:
    """The label text of one probe of one site (site ids need no escaping: inventory)."""
    return f'probe="{label_value(key[1])}",site="{key[0]}"'


def _kind(probe: str) -> str:
    """The probe kind of a probe's text form (``tcp:443`` -> ``tcp``)."""
    return probe.partition(":")[0]


def _info_labels(s: Site) -> str:
    values = {
        "district": s.district or "",
        "kind": s.kind,
        "lat": str(s.lat),
        "lon": str(s.lon),
        "name": s.name,
        "parent": s.parent or "",
        "site": s.id,
    }
    return ",".join(f'{k}="{label_value(v)}"' for k, v in values.items())


class AgentCollector(Collector):
    """The agent's own families (one series each, or one per probe kind) plus each prober's own
    ``collect()``; the per-site families are :class:`SiteFamilies`."""

    def __init__(
        self, source: MetricsSource, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._source = source
        self._monotonic = monotonic

    def collect(self) -> Iterable[Metric]:
        src = self._source
        sites = _gauge("pantau_agent_sites", "Sites in the loaded inventory")
        sites.add_metric([], float(len(src.sites)))
        yield sites
        yield from self._agent(src)
        age = _gauge(
            "pantau_agent_round_age_seconds",
            "Seconds since the last round of this kind finished (monotonic clock)",
            ["kind"],
        )
        now = self._monotonic()
        for kind, end in sorted(src.stats.round_end.items()):
            age.add_metric([kind], max(0.0, now - end))
        yield age
        for prober in src.probers():
            collect = getattr(prober, "collect", None)
            if collect is not None:
                yield from collect()

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
        enabled = _gauge(
            "pantau_agent_probe_kind_enabled",
            "1 while the probe kind runs, 0 while it is disabled (reason says why)",
            ["kind", "reason"],
        )
        for kind, reason in sorted(stats.probe_kinds.items()):
            enabled.add_metric([kind, reason], 1.0 if reason == "ok" else 0.0)
        yield enabled
        hop = _gauge(
            "pantau_site_last_hop_info",
            "Last traceroute hop that answered when the site went down (value 1, while down)",
            ["site", "hop"],
        )
        for site, address in sorted(stats.last_hops.items()):
            hop.add_metric([site, address], 1.0)
        yield hop
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
        if stats.eventlog_up is not None:
            up = _gauge("pantau_agent_eventlog_up", "1 while the event log takes appends, else 0")
            up.add_metric([], 1.0 if stats.eventlog_up else 0.0)
            yield up
            pending = _gauge(
                "pantau_agent_events_pending", "State changes waiting to be appended to the log"
            )
            pending.add_metric([], float(stats.events_pending))
            yield pending
            yield _counter(
                "pantau_agent_events_dropped_total",
                "State changes never recorded (event log unwritable), by reason",
                ["reason"],
                {**dict.fromkeys(DROP_REASONS, 0.0), **stats.events_dropped},
            )
