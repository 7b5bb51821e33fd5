"""The collector's Prometheus metrics: one custom collector over the collector's current view.

Names and labels are those of docs/contracts.md. A site whose state is unknown has no
``pantau_collector_site_up`` series; a district with no observed time has no availability.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as _PromCollector

from pantau.collector.agenthealth import LOST_REASONS
from pantau.collector.availability import availability, in_maintenance
from pantau.collector.outages import CAUSES, DOWN, UNREACHABLE, UP
from pantau.collector.pagecheck import REJECT_REASONS
from pantau.collector.service import Collector

DAY = 86400.0


def _down_ancestor(c: Collector, parent: str | None, now: float) -> str:
    """The ancestor whose own failure cuts the site off (the first one up the tree that is down
    and not itself unreachable); the direct parent when the tree says nothing better."""
    first, seen = parent or "", set()
    while parent and parent not in seen:
        seen.add(parent)
        if c.decision.label_at(parent, now) == DOWN:
            return parent
        ref = c.refs.get(parent)
        parent = ref.parent if ref else None
    return first


class CollectorMetrics(_PromCollector):
    """Exports ``pantau_outages_open``, per-site/-district gauges and the collector's health
    (agents pulled, store writable)."""

    def __init__(self, collector: Collector, clock: Callable[[], float] | None = None) -> None:
        self._c = collector
        self._clock = clock or collector.clock

    def collect(self) -> Iterator[Metric]:
        yield from self._sites()
        yield from self._agents()
        yield from self._store()

    def _store(self) -> Iterator[Metric]:
        h = self._c.store.health
        up = GaugeMetricFamily(
            "pantau_collector_store_up",
            "1 while every kind of store write succeeds, 0 while one fails (see /healthz)",
        )
        up.add_metric([], 1.0 if h.up else 0.0)
        failures = CounterMetricFamily(
            "pantau_collector_store_write_failures", "Store writes that failed (rolled back)"
        )
        failures.add_metric([], h.failures_total)
        yield from (up, failures)

    def _sites(self) -> Iterator[Metric]:
        c, now = self._c, self._clock()
        names = c.district_names
        opened = GaugeMetricFamily("pantau_outages_open", "Open outages by cause", labels=["cause"])
        per_site = GaugeMetricFamily(
            "pantau_site_outage_open",
            "1 while the collector has an outage of the site open (its decision: quorum, parents)",
            labels=["site", "name", "kind", "district", "district_name", "cause", "parent"],
        )
        site_up = GaugeMetricFamily(
            "pantau_collector_site_up",
            "Site state decided over all agents: 1 up, 0 down or unreachable; absent while unknown",
            labels=["site"],
        )
        info = GaugeMetricFamily(
            "pantau_collector_site_info",
            "1 per site, with the district the collector uses (computed from coordinates)",
            labels=["site", "name", "kind", "district", "district_name", "parent"],
        )
        maint = GaugeMetricFamily(
            "pantau_maintenance_active",
            "1 while a maintenance window covers the site, else 0",
            labels=["site", "district"],
        )
        causes: Counter[str] = Counter()
        sites_in: Counter[str] = Counter()
        up_in: Counter[str] = Counter()
        for site in c.sites.values():
            district = site.district or ""
            dname = names.get(district, "")
            label = c.decision.label_at(site.id, now)
            if label in (UP, DOWN, UNREACHABLE):
                site_up.add_metric([site.id], 1.0 if label == UP else 0.0)
            info.add_metric([site.id, site.name, site.kind, district, dname, site.parent or ""], 1)
            maint.add_metric(
                [site.id, district], 1.0 if in_maintenance(c.maintenance, site, now) else 0.0
            )
            outs = c.decision.outages.get(site.id, ())
            if outs and outs[-1].end is None:
                cause = outs[-1].cause
                causes[cause] += 1
                parent = _down_ancestor(c, site.parent, now) if cause == UNREACHABLE else ""
                per_site.add_metric(
                    [site.id, site.name, site.kind, district, dname, cause, parent], 1.0
                )
            if site.district:
                sites_in[site.district] += 1
                up_in[site.district] += label == UP
        for cause in CAUSES:
            opened.add_metric([cause], causes[cause])
        yield from (opened, per_site, site_up, info, maint)
        n = GaugeMetricFamily("pantau_district_sites", "Sites in the district", labels=["district"])
        u = GaugeMetricFamily("pantau_district_sites_up", "Sites up now", labels=["district"])
        for district in sorted(sites_in):
            n.add_metric([district], sites_in[district])
            u.add_metric([district], up_in[district])
        ratio = GaugeMetricFamily(
            "pantau_district_availability_ratio",
            "Share of observed time the district's sites were up, last 24 h, maintenance excluded",
            labels=["district"],
        )
        _, districts = availability(
            c.decision, c.refs.values(), now - DAY, now, c.maintenance, now=now
        )
        for district, avail in sorted(districts.items()):
            if avail.ratio is not None:
                ratio.add_metric([district], avail.ratio)
        yield from (n, u, ratio)

    def _agents(self) -> Iterator[Metric]:
        now = self._clock()
        up = GaugeMetricFamily(
            "pantau_collector_agent_up", "1 when the last pull worked", labels=["agent"]
        )
        isolated = GaugeMetricFamily(
            "pantau_collector_agent_isolated",
            "1 while the agent reports itself isolated",
            labels=["agent"],
        )
        lag = GaugeMetricFamily(
            "pantau_collector_pull_lag_seconds",
            "Seconds since the collector last read everything the agent had",
            labels=["agent"],
        )
        ingested = CounterMetricFamily(
            "pantau_collector_events_ingested", "Events stored", labels=["agent"]
        )
        rejected = CounterMetricFamily(
            "pantau_collector_events_rejected",
            "Events or pages rejected, by reason",
            labels=["agent", "reason"],
        )
        offset = GaugeMetricFamily(
            "pantau_collector_agent_clock_offset_seconds",
            "Agent clock minus collector clock at the last pull (half the round trip corrected)",
            labels=["agent"],
        )
        lost = CounterMetricFamily(
            "pantau_collector_events_lost",
            "Events the agent recorded that can never be stored (detected), by cause",
            labels=["agent", "reason"],
        )
        held = GaugeMetricFamily(
            "pantau_collector_events_held",
            "Events waiting: ahead of the collector's clock (future), of sites not in the "
            "inventory (unknown_site), of an agent whose clock cannot be measured "
            "(clock_unmeasured)",
            labels=["agent", "reason"],
        )
        conflict = GaugeMetricFamily(
            "pantau_collector_agent_identity_conflict",
            "1 while the source answers under another agent name or log id than the pinned one",
            labels=["agent"],
        )
        isolated_now = self._c.isolated_agents(now)
        for h in self._c.agents:
            if h.up is not None:
                up.add_metric([h.label], 1.0 if h.up else 0.0)
            if h.name is not None:
                isolated.add_metric([h.label], 1.0 if h.name in isolated_now else 0.0)
            if h.caught_up is not None:
                lag.add_metric([h.label], max(0.0, now - h.caught_up))
            ingested.add_metric([h.label], h.ingested)
            for reason in REJECT_REASONS:
                if h.rejected[reason]:
                    rejected.add_metric([h.label, reason], h.rejected[reason])
            if h.clock_offset is not None:
                offset.add_metric([h.label], h.clock_offset)
            if h.up is not None:
                conflict.add_metric([h.label], 1.0 if h.conflict else 0.0)
                for reason in LOST_REASONS:
                    lost.add_metric([h.label, reason], h.lost[reason])
                for reason in ("future", "unknown_site", "clock_unmeasured"):
                    held.add_metric([h.label, reason], h.held.get(reason, 0))
        yield from (up, isolated, lag, ingested, rejected, offset, lost, held, conflict)
