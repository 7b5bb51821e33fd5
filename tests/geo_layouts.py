"""Hand-drawn layouts for the geo tests: squares in metres around a lon/lat, and sites."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from pantau.geo.assign import sites_frame
from pantau.inventory import Site

# ../shared next to the repository; PANTAU_SHARED overrides it (e.g. from a git worktree elsewhere).
SHARED_GEO = (
    Path(os.environ.get("PANTAU_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
    / "geo"
)


def local_to_lonlat(lon: float, lat: float, geom: shapely.Geometry) -> shapely.Geometry:
    """A geometry drawn in metres around (lon, lat) (azimuthal equidistant), in lon/lat."""
    aeqd = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    back = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
    dense = shapely.segmentize(geom, 20.0)
    return shapely.transform(dense, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def districts(rows: list[tuple[str, shapely.Geometry]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"district": [r[0] for r in rows], "name": [f"D {r[0]}" for r in rows]},
        geometry=[r[1] for r in rows],
        crs="EPSG:4326",
    )


def site(id: str, lon: float, lat: float, kind: str = "hotspot", **kw) -> Site:
    return Site(id=id, name=id, kind=kind, lat=lat, lon=lon, **kw)


def sites(*rows: Site) -> gpd.GeoDataFrame:
    return sites_frame(rows)


def two_boxes_layer(folder: Path) -> Path:
    """A GeoJSON layer (``kode``, ``nama``): d1 "Satu" west of 116.85, d2 "Dua" east of it,
    both over latitudes -1.35 .. -1.15."""
    frame = gpd.GeoDataFrame(
        {"kode": ["d1", "d2"], "nama": ["Satu", "Dua"]},
        geometry=[
            shapely.box(116.75, -1.35, 116.85, -1.15),
            shapely.box(116.85, -1.35, 116.95, -1.15),
        ],
        crs=4326,
    )
    path = folder / "d.geojson"
    frame.to_file(path)
    return path
