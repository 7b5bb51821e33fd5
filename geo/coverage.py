"""Supervision coverage and blankspots per district, as a snapshot (pure functions).

Where the work happens: one Lambert azimuthal equal-area (LAEA) CRS centred on the districts.
An equal-area projection keeps every area exact anywhere (only shapes bend away from its centre),
and one CRS for all points lets circles from different UTM zones and both hemispheres be unioned
and clipped directly, with no zone bookkeeping. The coverage circles: :mod:`~.circles`; their
union and its clip per district: :mod:`~.coverage_union`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pantau.geo.circles import (  # noqa: F401  (re-exported: one place to import them from)
    SEGMENTS,
    SMALL_RADIUS_M,
    SMALL_SEGMENTS,
    coverage_circles,
    site_circles,
)
from pantau.geo.progress import Progress, null_progress

if TYPE_CHECKING:
    import geopandas as gpd
    from pyproj import CRS

KM2 = 1e6


def equal_area_crs(bounds: tuple[float, float, float, float]) -> CRS:
    """A Lambert azimuthal equal-area CRS centred on a lon/lat bounding box."""
    from pyproj import CRS

    lon = (bounds[0] + bounds[2]) / 2
    lat = (bounds[1] + bounds[3]) / 2
    return CRS.from_proj4(f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m")


def site_radius(sites: pd.DataFrame, defaults: Mapping[str, float]) -> np.ndarray:
    """Coverage radius in metres per site: its own ``coverage_m``, else the default of its kind."""
    by_kind = {kind: float(r) for kind, r in defaults.items()}
    default = sites["kind"].map(by_kind).astype(float).fillna(0.0).to_numpy(dtype=float)
    own = sites["coverage_m"].to_numpy(dtype=float)
    return np.where(np.isnan(own), default, own)


def supervision(
    assigned: pd.DataFrame, states: pd.DataFrame, *, now: float, window: float
) -> pd.DataFrame:
    """Registered versus supervised infrastructure points per district and kind.

    A point is supervised when it has at least one probe configured and a result newer than
    ``window`` seconds at ``now``.

    Parameters
    ----------
    assigned
        Sites with ``site``, ``kind``, ``probes`` and ``district`` (from :func:`assign_sites`).
    states
        ``site``, ``state`` (``up`` ``down`` ``unknown``), ``last_result`` (Unix time or NaN).

    Returns
    -------
    DataFrame
        One row per site with ``state``, ``supervised`` and ``working`` (state is up) added.
    """
    # A left join by hash lookup: merge() sorted both sides (2 s of 4.7 at 1,000,000 sites).
    latest = states.set_index("site")[["state", "last_result"]]
    if not latest.index.is_unique or not assigned["site"].is_unique:
        raise ValueError("supervision: site ids must be unique in sites and in states")
    picked = latest.reindex(assigned["site"].to_numpy())
    frame = assigned.assign(
        state=picked["state"].to_numpy(), last_result=picked["last_result"].to_numpy()
    )
    frame["state"] = frame["state"].fillna("unknown")
    last = frame["last_result"].astype(float)
    fresh = (last >= now - window) & (last <= now + window)
    frame["supervised"] = (frame["probes"] > 0) & fresh
    frame["working"] = frame["state"] == "up"
    return frame


def supervision_table(sites: pd.DataFrame) -> pd.DataFrame:
    """Counts per district (``None`` district = unassigned) and kind, and an overall row.

    Returns columns ``district``, ``kind`` (``all`` for totals), ``registered``, ``supervised``,
    ``working``, ``supervision_coverage_ratio``; the overall rows have district ``ALL``.
    """
    frame = sites.assign(district=sites["district"].fillna("UNASSIGNED"))
    parts = []
    for keys in (["district", "kind"], ["district"], ["kind"], []):
        grouped = frame.groupby(keys) if keys else frame.assign(_all=1).groupby("_all")
        counts = grouped.agg(
            registered=("site", "size"),
            supervised=("supervised", "sum"),
            working=("working", "sum"),
        ).reset_index()
        counts = counts.drop(columns="_all", errors="ignore")
        if "district" not in keys:
            counts["district"] = "ALL"
        if "kind" not in keys:
            counts["kind"] = "all"
        parts.append(counts)
    table = pd.concat(parts, ignore_index=True)
    table["supervision_coverage_ratio"] = table["supervised"] / table["registered"]
    return table[
        ["district", "kind", "registered", "supervised", "working", "supervision_coverage_ratio"]
    ]


@dataclasses.dataclass(frozen=True)
class Blankspots:
    """A blankspot snapshot: figures per district, and the covered and blank geometries.

    The covered geometry is made on first use of :attr:`coverage` (only maps and the GeoPackage
    draw it; every figure comes from the blank side's overlays)."""

    districts: pd.DataFrame
    covered_geometry: Callable[[], gpd.GeoDataFrame]
    blankspots: gpd.GeoDataFrame

    @property
    def coverage(self) -> gpd.GeoDataFrame:
        """Covered area per district (made on first use, then kept)."""
        return self.covered_geometry()


def targets(districts_ea: gpd.GeoDataFrame, settlements_ea: gpd.GeoDataFrame | None) -> np.ndarray:
    """Area that should have coverage per district: the district, or its settlements."""
    import shapely

    geoms = districts_ea.geometry.values
    if settlements_ea is None:
        return np.asarray(geoms)
    s = np.asarray(shapely.make_valid(settlements_ea.geometry.values))
    d_idx, s_idx = shapely.STRtree(s).query(geoms, predicate="intersects")
    pieces = shapely.intersection(geoms[d_idx], s[s_idx])
    return group_union(len(geoms), d_idx, pieces)


def clip_pieces(
    target: np.ndarray, circles: np.ndarray, t_idx: np.ndarray, c_idx: np.ndarray
) -> np.ndarray:
    """Each circle clipped to each target it reaches (pairs ``t_idx``, ``c_idx``).

    Most circles lie wholly inside one district; those are taken as they are, which spares
    an overlay per pair.
    """
    import shapely

    shapely.prepare(target)
    pieces = circles[c_idx].copy()
    inside = shapely.contains_properly(target[t_idx], pieces)
    cut = ~inside
    pieces[cut] = shapely.intersection(target[t_idx[cut]], pieces[cut])
    return pieces


def group_union(n: int, group: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Union of ``geoms`` per group index 0..n-1 (empty polygon for a group with none)."""
    from pantau.geo.coverage_union import grouped_union

    return grouped_union(n, group, geoms)


def _blobs(up: gpd.GeoDataFrame, crs: CRS) -> np.ndarray:
    """Disjoint coverage blobs of the sites ``up`` (see :mod:`~.coverage_union`)."""
    from pantau.geo.coverage_union import coverage_blobs

    lon, lat = up.geometry.x.to_numpy(), up.geometry.y.to_numpy()
    return coverage_blobs(site_circles(lon, lat, up["radius_m"].to_numpy(float), crs))


def blankspots(
    districts: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    *,
    threshold: float,
    settlements: gpd.GeoDataFrame | None = None,
    progress: Progress = null_progress,
    areas: bool = True,
) -> Blankspots:
    """Covered and blank area per district from the points that work now.

    Parameters
    ----------
    districts
        ``district`` and polygons (EPSG:4326).
    sites
        Points with ``district``, ``working`` (bool) and ``radius_m``; every working point
        counts, even one assigned to no district, since its circle can reach across a border.
    threshold
        A district is flagged when its blankspot ratio is above this, or no point in it works.
    settlements
        Optional residential polygons: the blankspot is then the settlement area left uncovered.
    areas
        False: only the district and target areas and the working counts; the covered and blank
        figures are NaN, the flags NA and the geometries empty (for a caller that reads period
        figures only, such as the report's previous month).

    Returns
    -------
    Blankspots
        ``districts``: ``district``, ``district_area_km2``, ``target_area_km2``, ``covered_km2``,
        ``blankspot_km2``, ``blankspot_ratio``, ``sites_working``, ``blankspot_flag``; and the
        covered and blankspot geometries per district, in the equal-area CRS they were computed
        in (``to_crs`` them for display; the writers do).
    """
    import geopandas as gpd
    import shapely

    from pantau.geo.coverage_union import Once, area_and_blank

    crs = equal_area_crs(tuple(districts.total_bounds))
    d_ea = districts.to_crs(crs)
    s_ea = settlements.to_crs(crs) if settlements is not None else None
    target = targets(d_ea, s_ea)
    progress("blankspots", 1, 4)
    up = sites[sites["working"].astype(bool) & (sites["radius_m"] > 0)]
    progress("blankspots", 2, 4)
    if areas:
        covered_area, covered, blank = area_and_blank(target, _blobs(up, crs))
    else:
        covered_area = np.full(len(target), np.nan)
        blank = np.full(len(target), shapely.Polygon(), dtype=object)
        covered = Once(lambda: blank)
    progress("blankspots", 3, 4)
    target_km2 = shapely.area(target) / KM2
    covered_km2 = covered_area / KM2
    blank_km2 = np.maximum(target_km2 - covered_km2, 0.0)  # covered lies inside target
    working = sites[sites["working"].astype(bool)].groupby("district").size()
    n_working = districts["district"].map(working).fillna(0).astype(int).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(target_km2 > 0, blank_km2 / target_km2, 0.0)
    table = pd.DataFrame(
        {
            "district": districts["district"].to_numpy(),
            "district_area_km2": shapely.area(d_ea.geometry.values) / KM2,
            "target_area_km2": target_km2,
            "covered_km2": covered_km2,
            "blankspot_km2": blank_km2,
            "blankspot_ratio": ratio,
            "sites_working": n_working,
            "blankspot_flag": (ratio > threshold) | (n_working == 0),
        }
    )
    if not areas:
        table["blankspot_flag"] = pd.array([pd.NA] * len(table), dtype="boolean")
    progress("blankspots", 4, 4)

    def frame(geoms: np.ndarray) -> gpd.GeoDataFrame:
        keep = ~shapely.is_empty(geoms)
        return gpd.GeoDataFrame(
            {"district": table["district"].to_numpy()[keep]}, geometry=geoms[keep], crs=crs
        )

    return Blankspots(table, Once(lambda: frame(covered())), frame(blank))
