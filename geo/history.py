"""Figures over a period from outage history: time-weighted blankspots.

Site and district availability are not computed here: they have one implementation,
:mod:`pantau.collector.availability`, over the decided timelines (no data is never up time).

A site counts as working over the period except inside its outage intervals (any cause: a site
``unreachable`` behind a dead parent gives no connectivity either). Open outages (no end) run to
the end of the period. The covered area of a district only changes when a site whose circle
reaches it changes state, so each district is swept over its own sites' interval ends, and a
union is computed once per distinct set of sites down (cached).

The circles are the snapshot's (:func:`~.circles.site_circles`), and the covered area with every
site up is the snapshot's own computation (:func:`~.coverage_union.covered_area`): a period
without outages gives exactly the snapshot's figures. Only districts reached by a site that was
down at some time are swept; the others are covered all period long.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pantau.geo.circles import Circles, site_circles
from pantau.geo.coverage import KM2, clip_pieces, equal_area_crs, targets
from pantau.geo.coverage_union import coverage_blobs, covered_area
from pantau.geo.progress import Progress, null_progress

if TYPE_CHECKING:
    import geopandas as gpd

OUTAGE_COLUMNS = ("site", "start", "end")


def merged_intervals(outages: pd.DataFrame, t0: float, t1: float) -> dict[str, list[tuple]]:
    """Per site, its outage intervals clipped to [t0, t1] and merged where they overlap."""
    missing = [c for c in OUTAGE_COLUMNS if c not in outages.columns]
    if missing:
        raise ValueError(f"outages lack column(s) {missing}; expected {OUTAGE_COLUMNS}")
    start = outages["start"].astype(float).clip(lower=t0)
    end = outages["end"].astype(float).fillna(t1).clip(upper=t1)
    frame = pd.DataFrame({"site": outages["site"], "start": start, "end": end})
    frame = frame[frame["end"] > frame["start"]].sort_values(["site", "start"])
    out: dict[str, list[tuple]] = {}
    for site, s, e in frame.itertuples(index=False):
        spans = out.setdefault(site, [])
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return out


def blankspot_history(
    districts: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    outages: pd.DataFrame,
    t0: float,
    t1: float,
    *,
    settlements: gpd.GeoDataFrame | None = None,
    progress: Progress = null_progress,
    cache: dict[bytes, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Time-weighted blankspots per district over [t0, t1].

    Parameters
    ----------
    districts
        ``district`` and polygons (EPSG:4326).
    sites
        Every registered point with ``site`` and ``radius_m`` (state over time comes from
        ``outages``, not from a snapshot).
    outages
        ``site``, ``start``, ``end`` (Unix seconds; ``end`` NaN while open).
    cache
        Optional: the covered area with every site up per district, kept under a digest of the
        districts, settlements and sites it was computed from; a second period over the same
        ones (the report's previous month) takes it from there instead of computing it again.

    Returns
    -------
    DataFrame
        ``district``, ``blankspot_km2h`` (integral of blank area over time, km2 x hours),
        ``mean_blankspot_ratio``, and ``coverage_availability``: delivered covered area-time over
        what all points up would cover (NaN where nothing can cover the district).
    """
    import shapely

    if t1 <= t0:
        raise ValueError(f"period end {t1} is not after its start {t0}")
    crs = equal_area_crs(tuple(districts.total_bounds))
    target = targets(
        districts.to_crs(crs), settlements.to_crs(crs) if settlements is not None else None
    )
    live = sites[sites["radius_m"] > 0]
    circles = site_circles(
        live.geometry.x.values, live.geometry.y.values, live["radius_m"].to_numpy(float), crs
    )
    key = _digest(target, circles)
    if cache is not None and key in cache:
        full = cache[key].copy()
    else:
        full = covered_area(target, coverage_blobs(circles))
        if cache is not None:
            cache[key] = full.copy()
    spans = merged_intervals(outages, t0, t1)
    names = live["site"].to_numpy()
    target_km2 = shapely.area(target) / KM2
    hours = (t1 - t0) / 3600.0
    delivered = full * (t1 - t0)
    tree = shapely.STRtree(circles.polygons)
    # Districts reached by a site that was down at some time: only those are swept.
    ever_down = circles.polygons[np.isin(names, list(spans))]
    _, swept = shapely.STRtree(target).query(ever_down, predicate="intersects")
    swept = np.unique(swept)
    t_idx, c_idx = tree.query(target[swept], predicate="intersects")
    t_idx = swept[t_idx]
    pieces = clip_pieces(target, circles.polygons, t_idx, c_idx)
    order = np.argsort(t_idx, kind="stable")
    bounds = np.flatnonzero(np.r_[True, t_idx[order][1:] != t_idx[order][:-1]])
    groups = np.split(order, bounds[1:]) if len(order) else []
    for n, members in enumerate(groups):
        d = t_idx[members[0]]
        owners = names[c_idx[members]]
        delivered[d] = _sweep(pieces[members], owners, spans, t0, t1, full[d])
        progress("blankspot history", n + 1, len(groups))
    blank_km2h = target_km2 * hours - delivered / KM2 / 3600.0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(target_km2 > 0, blank_km2h / (target_km2 * hours), 0.0)
        availability = np.where(full > 0, delivered / (full * (t1 - t0)), np.nan)
    return pd.DataFrame(
        {
            "district": districts["district"].to_numpy(),
            "blankspot_km2h": blank_km2h,
            "mean_blankspot_ratio": ratio,
            "coverage_availability": availability,
        }
    )


def _digest(target: np.ndarray, circles: Circles) -> bytes:
    """What the all-up covered area depends on: the targets' coordinates (which fix the CRS
    too) and the circles' centres and sizes."""
    import hashlib

    import shapely

    h = hashlib.sha256()
    for part in (
        shapely.get_num_coordinates(target),
        shapely.get_coordinates(target),
        circles.x, circles.y, circles.outer, circles.inner,
    ):  # fmt: skip
        h.update(len(part).to_bytes(8, "little"))
        h.update(np.ascontiguousarray(part).tobytes())
    return h.digest()


def _sweep(
    pieces: np.ndarray,
    owners: np.ndarray,
    spans: dict[str, list[tuple]],
    t0: float,
    t1: float,
    full: float,
) -> float:
    """Covered area x seconds actually delivered; ``full``: the area with every piece up."""
    import shapely

    cache: dict[frozenset, float] = {frozenset(): full}

    def area(down: frozenset) -> float:
        if down not in cache:
            keep = [p for p, o in zip(pieces, owners, strict=True) if o not in down]
            cache[down] = float(shapely.area(shapely.union_all(keep))) if keep else 0.0
        return cache[down]

    edges = sorted({t0, t1} | {t for o in set(owners) for span in spans.get(o, ()) for t in span})
    delivered = 0.0
    for a, b in itertools.pairwise(edges):
        mid = (a + b) / 2
        down = frozenset(o for o in set(owners) if any(s <= mid < e for s, e in spans.get(o, ())))
        delivered += area(down) * (b - a)
    return delivered
