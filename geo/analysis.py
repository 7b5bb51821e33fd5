"""One geo analysis: every figure per district, for a moment and a period (pure, frames in/out).

:func:`analyse` chains assignment, supervision, the blankspot snapshot at ``at`` and the
time-weighted figures over ``[start, end]`` into one :class:`Analysis` that the renderers, the
monthly report and the collector's API all read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pantau.collector.availability import (
    Availability,
    Maintenance,
    SiteKey,
    Timeline,
    figures,
    merge_windows,
    site_windows,
    unknown_spans,
)
from pantau.geo.assign import assign_sites, assignment_problems
from pantau.geo.coverage import (
    blankspots,
    site_radius,
    supervision,
    supervision_table,
)
from pantau.geo.history import blankspot_history, merged_intervals
from pantau.geo.progress import Progress, null_progress

if TYPE_CHECKING:
    import geopandas as gpd

    from pantau.config import GeoConfig
    from pantau.geo.sources import Observations

#: District columns in the order files show them.
DISTRICT_COLUMNS = (
    "district",
    "name",
    "sites_registered",
    "sites_supervised",
    "supervision_coverage_ratio",
    "sites_working",
    "availability_ratio",
    "district_area_km2",
    "target_area_km2",
    "covered_km2",
    "blankspot_km2",
    "blankspot_ratio",
    "blankspot_flag",
    "blankspot_km2h",
    "mean_blankspot_ratio",
    "coverage_availability",
    "data_ratio",
)

#: Per-site figure columns (seconds outside maintenance unless named so), from
#: :func:`pantau.collector.availability.figures`.
SITE_FIGURES = (
    "availability",
    "up_s",
    "downtime_s",
    "unreachable_s",
    "maintenance_s",
    "unknown_s",
    "observed_s",
    "outages",
)


@dataclasses.dataclass(frozen=True)
class Analysis:
    """Everything one run computed; geometries in EPSG:4326."""

    districts: gpd.GeoDataFrame  # DISTRICT_COLUMNS + geometry
    sites: gpd.GeoDataFrame  # site, name, kind, district, assigned_by, state, supervised, ...
    covered_geometry: Callable[[], gpd.GeoDataFrame]  # made on first use: see `coverage`
    blankspots: gpd.GeoDataFrame  # blank area per district, at `at`
    supervision: pd.DataFrame  # per district and kind, with ALL / UNASSIGNED rows
    outages: pd.DataFrame  # the period's outages with name, kind, district, duration_s
    at: float
    start: float
    end: float
    problems: tuple[str, ...]
    observed_to: float = float("inf")  # the source's data reach up to here (its "now")
    zone: str = "UTC"  # IANA zone for printed times ([report] timezone)

    @property
    def coverage(self) -> gpd.GeoDataFrame:
        """Covered area per district at ``at``, made on first use (maps and files draw it; no
        figure needs it) and then kept."""
        return self.covered_geometry()


def analyse(
    districts: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    observations: Observations,
    geo: GeoConfig,
    *,
    at: float,
    start: float,
    end: float,
    settlements: gpd.GeoDataFrame | None = None,
    maintenance: Sequence[Maintenance] = (),
    progress: Progress = null_progress,
    snapshot: bool = True,
    cache: dict[bytes, np.ndarray] | None = None,
) -> Analysis:
    """Compute every per-district figure.

    Parameters
    ----------
    districts, sites
        From :func:`read_districts` and :func:`sites_frame`.
    observations
        Site states at ``at`` and outages overlapping ``[start, end]``.
    geo
        The ``[geo]`` config (snap distance, radii, threshold, supervision window).
    at
        The moment of the snapshot (supervision, working points, blankspots), Unix seconds.
    start, end
        The period of availability and time-weighted blankspots.
    maintenance
        Windows from the config, resolved per site with the district found here (the
        observations' own per-site windows are added).
    snapshot
        False: no blankspot snapshot at ``at`` (its figures NaN, flags NA, no geometries); the
        period figures are computed all the same (the report's previous month needs only them).
    cache
        Shared by analyses of several periods over the same districts and sites: see
        :func:`~.history.blankspot_history`.
    """
    assigned = assign_sites(sites, districts, snap_m=geo.snap_m, progress=progress)
    states = supervision(assigned, observations.states, now=at, window=geo.supervision_window)
    states["radius_m"] = site_radius(states, geo.coverage_m)
    snap = blankspots(
        districts,
        states,
        threshold=geo.blankspot_threshold,
        settlements=settlements,
        progress=progress,
        areas=snapshot,
    )
    # Only watched points have a history; an unwatched one is not assumed to have worked.
    watched = states[states["probes"] > 0]
    # A point delivers coverage only while it was observed working: time without data (and the
    # future of a period still running) counts as not covered, never as covered.
    stop = end if observations.now is None else max(start, min(end, observations.now))
    not_working = _not_working(observations, watched["site"].tolist(), start, stop)
    history = blankspot_history(
        districts,
        watched,
        not_working,
        start,
        stop if stop > start else end,
        settlements=settlements,
        progress=progress,
        cache=cache,
    )
    windows = _windows(states, observations, maintenance)
    avail, per_district = period_availability(states, observations, start, end, windows)
    states = states.merge(avail, on="site", how="left")
    table = supervision_table(states)
    totals = table[table["kind"] == "all"].set_index("district")
    frame = districts[["district", "name", "geometry"]].copy()
    frame["sites_registered"] = frame["district"].map(totals["registered"]).fillna(0).astype(int)
    frame["sites_supervised"] = frame["district"].map(totals["supervised"]).fillna(0).astype(int)
    frame["supervision_coverage_ratio"] = frame["district"].map(
        totals["supervision_coverage_ratio"]
    )
    frame["availability_ratio"] = (
        frame["district"].map({d: a.ratio for d, a in per_district.items()}).astype(float)
    )
    frame["data_ratio"] = (
        frame["district"].map({d: a.data_ratio for d, a in per_district.items()}).astype(float)
    )
    frame = frame.merge(snap.districts, on="district").merge(history, on="district")
    frame = frame[[*DISTRICT_COLUMNS, "geometry"]]
    return Analysis(
        districts=frame,
        sites=states,
        covered_geometry=snap.covered_geometry,
        blankspots=snap.blankspots,
        supervision=table,
        outages=_outage_list(
            observations.outages, states, start, min(end, stop), windows, observations.timelines
        ),
        at=at,
        start=start,
        end=end,
        problems=tuple(assignment_problems(assigned, geo.snap_m)),
        observed_to=float("inf") if observations.now is None else observations.now,
    )


def _not_working(
    observations: Observations, site_ids: list[str], start: float, stop: float
) -> pd.DataFrame:
    """Outages plus each site's spans without data in ``[start, stop)`` (site, start, end)."""
    rows = [
        (site, lo, hi)
        for site in site_ids
        for lo, hi in unknown_spans(observations.timelines.get(site, ()), start, stop)
    ]
    gaps = pd.DataFrame(rows, columns=["site", "start", "end"]).astype(
        {"start": float, "end": float}
    )
    known = observations.outages[["site", "start", "end"]]
    return pd.concat([known, gaps], ignore_index=True) if len(gaps) else known


def _windows(
    states: pd.DataFrame, observations: Observations, maintenance: Sequence[Maintenance]
) -> dict[str, list[tuple[float, float]]]:
    """Per site, the maintenance windows covering it: the source's and the config's."""
    keys = [
        SiteKey(str(s), d if isinstance(d, str) else None)
        for s, d in zip(states["site"], states["district"], strict=True)
    ]
    mine = site_windows(maintenance, keys)
    return {
        k.id: merge_windows([*mine.get(k.id, ()), *observations.windows.get(k.id, ())])
        for k in keys
    }


def period_availability(
    states: pd.DataFrame,
    observations: Observations,
    start: float,
    end: float,
    windows: Mapping[str, list[tuple[float, float]]],
) -> tuple[pd.DataFrame, dict[str, Availability]]:
    """Per site :data:`SITE_FIGURES` and per district :class:`Availability` over the period.

    The one implementation (:func:`pantau.collector.availability.figures`) over the decided
    timelines; the period stops at the source's ``now``, so the future never counts.
    """
    stop = end if observations.now is None else max(start, min(end, observations.now))
    keys = [
        SiteKey(str(s), d if isinstance(d, str) else None)
        for s, d in zip(states["site"], states["district"], strict=True)
    ]
    parents = {
        str(s): (p if isinstance(p, str) and p else None)
        for s, p in zip(states["site"], states["parent"], strict=True)
    }
    per_site, per_district = figures(observations.timelines, keys, start, stop, windows, parents)
    spans = merged_intervals(observations.outages, start, stop)
    rows = [
        (
            k.id,
            per_site[k.id].ratio,
            per_site[k.id].up_seconds,
            per_site[k.id].down_seconds,
            per_site[k.id].unreachable_seconds,
            per_site[k.id].maintenance_seconds,
            per_site[k.id].unknown_seconds,
            per_site[k.id].observed_seconds,
            len(spans.get(k.id, ())),
        )
        for k in keys
    ]
    frame = pd.DataFrame(rows, columns=["site", *SITE_FIGURES])
    frame["availability"] = frame["availability"].astype(float)
    return frame, per_district


def _observed(timeline: Timeline, lo: float, hi: float) -> list[tuple[float, float]]:
    """The pieces of ``[lo, hi)`` with a decided state (the complement of its unknown spans)."""
    pieces, at = [], lo
    for a, b in unknown_spans(timeline, lo, hi):
        if a > at:
            pieces.append((at, a))
        at = b
    if hi > at:
        pieces.append((at, hi))
    return pieces


def _outage_list(
    outages: pd.DataFrame,
    sites: pd.DataFrame,
    start: float,
    end: float,
    windows: Mapping[str, list[tuple[float, float]]],
    timelines: Mapping[str, Timeline],
) -> pd.DataFrame:
    """Outages overlapping the period, with the site's name, kind and district; ``duration_s``,
    the observed part within the period (time without a voter is not outage time), and
    ``maintenance_s``, the part of that inside maintenance.

    ``end`` is where the period's data reach (an open outage is known only up to there, as the
    sites' downtime is)."""
    open_end = outages["end"].fillna(np.inf)
    inside = outages[(outages["start"] < end) & (open_end > start)].copy()
    info = sites.set_index("site")[["name", "kind", "district"]]
    inside = inside.join(info, on="site")
    lo = inside["start"].clip(lower=start)
    hi = inside["end"].fillna(end).clip(upper=end)
    pieces = [  # a source without the site's timeline cannot tell: the whole span
        _observed(timelines[site], a, b) if site in timelines else [(a, b)]
        for site, a, b in zip(inside["site"], lo, hi, strict=True)
    ]
    inside["duration_s"] = [sum(b - a for a, b in p) for p in pieces]
    inside["maintenance_s"] = [
        sum(max(0.0, min(b, we) - max(a, ws)) for a, b in p for ws, we in windows.get(site, ()))
        for site, p in zip(inside["site"], pieces, strict=True)
    ]
    return inside.sort_values(["start", "site"]).reset_index(drop=True)
