"""Geo inside the collector: ``/api/v1/districts.geojson`` and the per-district gauges.

Loaded by the collector's extension hook (``pantau.collector.api.EXTENSION_MODULES``) as
``register(app, context)``. The analysis runs in a worker thread every ``[geo] refresh`` seconds
over the collector's own view (decided site states, outages from its store), so the event loop
never waits for geometry and scrapes read the latest finished result, never a half-computed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as _PromCollector

if TYPE_CHECKING:
    from aiohttp import web

    from pantau.config import Config
    from pantau.geo.analysis import Analysis
    from pantau.geo.sources import Observations

log = logging.getLogger(__name__)
DAY = 86400.0


def collector_observations(collector: Any, start: float, end: float, now: float) -> Observations:
    """Site states and outages from a running collector's view and store (blocking: a thread).

    A site with a decided state counts as having a fresh result when an agent is up and caught
    up: the collector hears about state changes only, so the newest catch-up time of a healthy
    agent is the freshest evidence it has that the state still holds.
    """
    from pantau.collector.availability import site_windows
    from pantau.geo.sources import observations_from_records

    fresh = [h.caught_up for h in collector.agents if h.up and h.caught_up is not None]
    states = [
        {"site": site, "state": collector.decision.label_at(site, now)} for site in collector.sites
    ]
    found = collector.store.outages(start=start, end=end, limit=1_000_000)
    outages = [{"site": o.site, "start": o.start, "end": o.end, "cause": o.cause} for o in found]
    obs = observations_from_records(
        states, outages, "collector", decided_at=max(fresh) if fresh else None
    )
    # Availability from the decided timelines and the collector's own maintenance windows: the
    # same inputs as its /api/v1/availability, so the map and the API give the same figure.
    windows = site_windows(collector.maintenance, collector.refs.values())
    timelines = {s: collector.decision.timelines.get(s, ()) for s in collector.sites}
    return dataclasses.replace(obs, timelines=timelines, windows=windows, now=now)


class DistrictView:
    """The latest analysis of the collector's sites; :meth:`compute` runs in a thread."""

    def __init__(self, config: Config, collector: Any, clock: Callable[[], float]) -> None:
        self.config, self.collector, self.clock = config, collector, clock
        self.latest: Analysis | None = None
        self.geojson: str | None = None
        self._districts: Any = None

    def compute(self) -> Analysis:
        from pantau.geo.analysis import analyse
        from pantau.geo.assign import sites_frame
        from pantau.geo.districts import read_districts, read_settlements
        from pantau.geo.render import districts_geojson

        geo = self.config.geo
        if self._districts is None:
            assert geo.districts is not None
            self._districts = read_districts(
                geo.districts, layer=geo.layer, id_field=geo.id_field, name_field=geo.name_field
            )
            self._settlements = (
                read_settlements(geo.settlements, layer=geo.settlements_layer)
                if geo.settlements
                else None
            )
        now = self.clock()
        obs = collector_observations(self.collector, now - DAY, now, now)
        analysis = analyse(
            self._districts, sites_frame(self.collector.sites.values()), obs, geo,
            at=now, start=now - DAY, end=now, settlements=self._settlements,
        )  # fmt: skip
        self.geojson = districts_geojson(analysis.districts)
        self.latest = analysis
        log.info("district analysis done districts=%d at=%.0f", len(analysis.districts), now)
        return analysis

    async def run(self, interval: float) -> None:
        """Recompute forever, every ``interval`` seconds; a failure is logged and retried."""
        while True:
            # Not before the collector's first decision: until then its store may still be
            # opening (a degraded start retries it) and every site would read as unknown.
            if not getattr(self.collector, "ready", True):
                await asyncio.sleep(min(interval, 1.0))
                continue
            try:
                await asyncio.to_thread(self.compute)
            except Exception:  # keep serving the last good result; the log says why
                log.exception("district analysis failed; keeping the previous result")
            await asyncio.sleep(interval)


class DistrictMetrics(_PromCollector):
    """``pantau_district_blankspot_ratio`` and ``..._supervision_coverage_ratio`` per district.

    Nothing is exported before the first analysis, and a district without a figure (no site
    registered there, for supervision) has no series rather than a fake 0.
    """

    def __init__(self, view: DistrictView) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        blank = GaugeMetricFamily(
            "pantau_district_blankspot_ratio",
            "Share of the district (or its settlements) without working coverage, 0..1",
            labels=["district"],
        )
        sup = GaugeMetricFamily(
            "pantau_district_supervision_coverage_ratio",
            "Share of the district's registered sites that are supervised, 0..1",
            labels=["district"],
        )
        latest = self._view.latest
        if latest is not None:
            for district, b, s in zip(
                latest.districts["district"],
                latest.districts["blankspot_ratio"],
                latest.districts["supervision_coverage_ratio"],
                strict=True,
            ):
                if b is not None and not math.isnan(b):
                    blank.add_metric([str(district)], float(b))
                if s is not None and not math.isnan(s):
                    sup.add_metric([str(district)], float(s))
        yield blank
        yield sup


def register(app: web.Application, context: Any) -> None:
    """Add the districts route and gauges to the collector's app (the collector's hook)."""
    import importlib.util

    from aiohttp import web

    config: Any = getattr(context, "config", None)
    why = None
    if config is None or config.geo.districts is None:
        why = "no district layer configured; set [geo] districts"
    elif importlib.util.find_spec("geopandas") is None:
        why = f"no geo extra on this host; {sys.executable} -m pip install 'pantau[geo]'"
    if why is not None:
        log.info("district analysis off, /api/v1/districts.geojson answers 404 reason=%s", why)

        async def absent(_request: web.Request) -> web.Response:
            return web.json_response({"error": why}, status=404)

        app.router.add_get("/api/v1/districts.geojson", absent)
        return
    view = DistrictView(config, context.collector, context.collector.clock)
    context.registry.register(DistrictMetrics(view))

    async def districts(_request: web.Request) -> web.Response:
        if view.geojson is None:
            return web.json_response(
                {"error": "district analysis not ready yet; retry shortly"}, status=503
            )
        return web.Response(text=view.geojson, content_type="application/geo+json")

    async def background(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(view.run(config.geo.refresh))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.router.add_get("/api/v1/districts.geojson", districts)
    app.cleanup_ctx.append(background)
