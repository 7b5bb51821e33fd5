"""One geo analysis: every figure per district, for a moment and a period (pure, frames in/out).

:func:`analyse` chains assignment, supervision, the blankspot snapshot at ``at`` and the
time-weighted figures over ``[start, end]`` into one :class:`Analysis` that the renderers, the
monthly report and the collector's API all read.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pantau.geo.assign import assign_sites, assignment_problems
from pantau.geo.coverage import (
    blankspots,
    site_radius,
    supervision,
    supervision_table,
)
from pantau.geo.history import blankspot_history, site_availability
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
)


@dataclasses.dataclass(frozen=True)
class Analysis:
    """Everything one run computed; geometries in EPSG:4326."""

    districts: gpd.GeoDataFrame  # DISTRICT_COLUMNS + geometry
    sites: gpd.GeoDataFrame  # site, name, kind, district, assigned_by, state, supervised, ...
    coverage: gpd.GeoDataFrame  # covered area per district, at `at`
    blankspots: gpd.GeoDataFrame  # blank area per district, at `at`
    supervision: pd.DataFrame  # per district and kind, with ALL / UNASSIGNED rows
    outages: pd.DataFrame  # the period's outages with name, kind, district, duration_s
    at: float
    start: float
    end: float
    problems: tuple[str, ...]


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
    progress: Progress = null_progress,
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
    )
    # Only watched points have a history; an unwatched one is not assumed to have worked.
    watched = states[states["probes"] > 0]
    history = blankspot_history(
        districts,
        watched,
        observations.outages,
        start,
        end,
        settlements=settlements,
        progress=progress,
    )
    avail = site_availability(watched["site"].tolist(), observations.outages, start, end)
    states = states.merge(avail, on="site", how="left")
    table = supervision_table(states)
    totals = table[table["kind"] == "all"].set_index("district")
    frame = districts[["district", "name", "geometry"]].copy()
    frame["sites_registered"] = frame["district"].map(totals["registered"]).fillna(0).astype(int)
    frame["sites_supervised"] = frame["district"].map(totals["supervised"]).fillna(0).astype(int)
    frame["supervision_coverage_ratio"] = frame["district"].map(
        totals["supervision_coverage_ratio"]
    )
    frame["availability_ratio"] = frame["district"].map(
        states.groupby("district")["availability"].mean()
    )
    frame = frame.merge(snap.districts, on="district").merge(history, on="district")
    frame = frame[[*DISTRICT_COLUMNS, "geometry"]]
    return Analysis(
        districts=frame,
        sites=states,
        coverage=snap.coverage,
        blankspots=snap.blankspots,
        supervision=table,
        outages=_outage_list(observations.outages, states, start, end),
        at=at,
        start=start,
        end=end,
        problems=tuple(assignment_problems(assigned, geo.snap_m)),
    )


def _outage_list(
    outages: pd.DataFrame, sites: pd.DataFrame, start: float, end: float
) -> pd.DataFrame:
    """Outages overlapping the period, with the site's name, kind and district."""
    open_end = outages["end"].fillna(np.inf)
    inside = outages[(outages["start"] < end) & (open_end > start)].copy()
    info = sites.set_index("site")[["name", "kind", "district"]]
    inside = inside.join(info, on="site")
    inside["duration_s"] = inside["end"].fillna(end).clip(upper=end) - inside["start"].clip(
        lower=start
    )
    return inside.sort_values(["start", "site"]).reset_index(drop=True)
