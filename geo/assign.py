"""Sites to districts: point in polygon, one district per point, snapping, declared-id checks.

Rules, in order:

1. A point inside or on the boundary of one or more district polygons gets the one with the
   **smallest district id** (text order). A point on a border shared by two districts therefore
   always lands in the same one, whatever the layer's feature order, and so does a point in the
   sliver where two digitised polygons overlap.
2. A point outside every polygon goes to the nearest district within ``snap_m`` metres, measured as
   a true geodesic distance: the candidates are projected into an azimuthal equidistant projection
   centred on the point, where distance from the centre is the geodesic distance. Ties again go to
   the smallest id.
3. Otherwise it stays unassigned (``district`` is missing) and is reported.

A declared ``district`` (inventory column) that differs from the one found is reported, never
silently overwritten: the geometry wins, the message says which site to check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from pantau.geo.progress import Progress, null_progress

if TYPE_CHECKING:
    import geopandas as gpd

    from pantau.inventory import Site

#: Metres per degree of latitude, rounded down so the search box is never too small.
_M_PER_DEG = 110_000.0


def sites_frame(sites: Iterable[Site]) -> gpd.GeoDataFrame:
    """The inventory as a point GeoDataFrame (EPSG:4326), one row per site.

    Columns: ``site``, ``name``, ``kind``, ``parent``, ``coverage_m`` (NaN = default per kind),
    ``declared`` (inventory ``district``), ``probes`` (number configured), ``geometry``.
    """
    import geopandas as gpd

    rows = list(sites)
    return gpd.GeoDataFrame(
        {
            "site": [s.id for s in rows],
            "name": [s.name for s in rows],
            "kind": [s.kind for s in rows],
            "parent": [s.parent for s in rows],
            "coverage_m": np.array(
                [np.nan if s.coverage_m is None else s.coverage_m for s in rows]
            ),
            "declared": [s.district for s in rows],
            "probes": np.array([len(s.probes) for s in rows], dtype=int),
        },
        geometry=gpd.points_from_xy([s.lon for s in rows], [s.lat for s in rows]),
        crs="EPSG:4326",
    )


def assign_sites(
    sites: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    *,
    snap_m: float = 500.0,
    progress: Progress = null_progress,
) -> gpd.GeoDataFrame:
    """Give each site exactly one district, or none (see the module docstring for the rules).

    Parameters
    ----------
    sites
        Points, any CRS (see :func:`sites_frame`); a ``declared`` column is checked if present.
    districts
        From :func:`pantau.geo.districts.read_districts` (``district`` column, polygons).
    snap_m
        How far outside every polygon a point may be and still snap to the nearest, in metres.

    Returns
    -------
    GeoDataFrame
        ``sites`` (in EPSG:4326) plus ``district`` (missing when unassigned), ``assigned_by``
        (``inside``, ``shared``, ``snapped``, ``unassigned``), ``snap_distance_m`` and
        ``declared_conflict``.
    """
    import shapely

    from pantau.geo.threads import query

    sites, districts = _check_inputs(sites, districts)
    ids = districts["district"].to_numpy(dtype=object)
    rank = np.argsort(np.argsort(ids.astype(str), kind="stable"), kind="stable")
    # The tree's own query, split over the cores (see pantau.geo.threads): the same pairs.
    tree = shapely.STRtree(np.asarray(districts.geometry.values))
    point_idx, poly_idx = query(tree, np.asarray(sites.geometry.values), predicate="intersects")
    progress("assign sites", len(sites), len(sites))
    chosen = np.full(len(sites), -1)
    matches = np.bincount(point_idx, minlength=len(sites))
    if len(point_idx):
        order = np.lexsort((rank[poly_idx], point_idx))
        first = np.unique(point_idx[order], return_index=True)[1]
        chosen[point_idx[order][first]] = poly_idx[order][first]
    by = np.where(matches > 1, "shared", np.where(matches == 1, "inside", "unassigned"))
    distance = np.where(chosen >= 0, 0.0, np.nan)
    outside = np.flatnonzero(chosen < 0)
    if snap_m > 0 and len(outside):
        points, polygons, index = sites.geometry.values, districts.geometry.values, tree
        for n, i in enumerate(outside):
            found = _nearest_within(points[i], polygons, index, rank, snap_m)
            if found is not None:
                chosen[i], distance[i] = found
                by[i] = "snapped"
            progress("snap sites", n + 1, len(outside))
    out = sites.copy()
    out["district"] = np.where(chosen >= 0, ids[np.maximum(chosen, 0)], None)
    out["assigned_by"] = by
    out["snap_distance_m"] = distance
    declared = out["declared"] if "declared" in out.columns else None
    if declared is not None:
        found = out["district"]
        out["declared_conflict"] = declared.notna() & found.notna() & (declared != found)
    else:
        out["declared_conflict"] = False
    return out


def _check_inputs(
    sites: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    import shapely

    if "district" not in districts.columns:
        raise ValueError(
            "districts lacks the 'district' column; build it with read_districts() or "
            f"prepare_districts() (got columns {list(districts.columns)})"
        )
    if sites.crs is None or districts.crs is None:
        raise ValueError("sites and districts need a CRS; set_crs('EPSG:4326') if they are lon/lat")
    types = set(shapely.get_type_id(sites.geometry.values).tolist())
    if types - {0}:
        raise ValueError(f"sites must be points; got geometry type ids {sorted(types)}")
    return sites.to_crs("EPSG:4326"), districts.to_crs("EPSG:4326")


def _nearest_within(
    point: object, polygons: np.ndarray, tree: Any, rank: np.ndarray, snap_m: float
) -> tuple[int, float] | None:
    """Index of and geodesic distance to the nearest district within ``snap_m``, if any
    (``tree``: the STRtree of ``polygons``)."""
    import shapely
    from pyproj import Transformer

    lon, lat = point.x, point.y  # type: ignore[attr-defined]
    dlat = snap_m / _M_PER_DEG
    dlon = dlat / max(math.cos(math.radians(min(abs(lat) + dlat, 89.0))), 1e-6)
    box = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
    candidates = tree.query(box, predicate="intersects")
    if not len(candidates):
        return None
    # Lon/lat (EPSG:4326) to an azimuthal equidistant projection centred on the point: the
    # pipeline from_crs finds for it (centre printed to 15 digits, as PROJ does), given directly:
    # from_crs searched PROJ's database each time, 14 ms a site, 1.2 s of 6 at a million sites.
    # The same coordinates to the last bit (tests/test_geo_compute.py).
    to_aeqd = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=aeqd +lat_0={lat:.15g} +lon_0={lon:.15g} +ellps=WGS84"
    )
    local = shapely.transform(
        polygons[candidates],
        lambda xy: np.column_stack(to_aeqd.transform(xy[:, 0], xy[:, 1])),
    )
    dist = shapely.distance(shapely.Point(0.0, 0.0), local)
    best = np.lexsort((rank[candidates], dist))[0]
    if dist[best] > snap_m:
        return None
    return int(candidates[best]), float(dist[best])


def assignment_problems(assigned: gpd.GeoDataFrame, snap_m: float) -> list[str]:
    """One message per unassigned site and per declared district the geometry contradicts."""
    out = []
    for row in assigned.itertuples():
        where = f"site {row.site!r} ({row.geometry.y:.5f}, {row.geometry.x:.5f})"
        if row.assigned_by == "unassigned":
            out.append(
                f"{where}: outside every district and more than {snap_m:g} m from the nearest; "
                "check its lat/lon (swapped?) or raise [geo] snap_m"
            )
        elif row.declared_conflict:
            out.append(
                f"{where}: declared district {row.declared!r} but it lies in {row.district!r}; "
                "fix the inventory's district column or the coordinates"
            )
    return out
