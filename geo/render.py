"""Files from an analysis: GeoPackage, Grafana GeoJSON, PNG choropleths, HTML map, summary CSV.

Everything here writes files; nothing computes figures (see :mod:`pantau.geo.analysis`).
"""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pantau.csvsafe import safe_frame
from pantau.events import format_time
from pantau.geo import reportfmt as fmt
from pantau.geo.mapfigure import MAP_SIZES, MAPS, MapSize, draw_map
from pantau.geo.progress import Progress, null_progress

if TYPE_CHECKING:
    import geopandas as gpd

    from pantau.geo.analysis import Analysis

SITE_COLUMNS = (
    "site", "name", "kind", "district", "assigned_by", "snap_distance_m", "declared",
    "declared_conflict", "probes", "state", "last_result", "supervised", "working", "radius_m",
    "downtime_s", "outages", "availability",
)  # fmt: skip


def write_all(
    analysis: Analysis,
    out: Path,
    *,
    lang: str = "id",
    progress: Progress = null_progress,
) -> list[Path]:
    """Write every map output into ``out`` (created); return the paths written.

    The PNGs are drawn at projector size (1920 x 1080); the report draws its own at page size.
    Times are printed in ``analysis.zone``.
    """
    from pantau.geo.htmlmap import write_html_map

    out.mkdir(parents=True, exist_ok=True)
    steps = [
        lambda: write_geopackage(analysis, out / "pantau-geo.gpkg"),
        lambda: write_geojson(analysis.districts, out / "districts.geojson"),
        *[(lambda s=s: write_png(analysis, s, out / f"{s}.png", lang=lang)) for s in MAPS],
        lambda: write_html_map(analysis, out / "map.html", lang=lang),
        lambda: write_summary(analysis, out / "summary.csv"),
    ]
    paths = []
    for n, step in enumerate(steps):
        paths.append(step())
        progress("write map files", n + 1, len(steps))
    return paths


def write_geopackage(analysis: Analysis, path: Path) -> Path:
    """GeoPackage for QGIS with layers ``districts``, ``sites``, ``coverage``, ``blankspots``."""
    path.unlink(missing_ok=True)
    sites = analysis.sites
    layers = {
        "districts": analysis.districts,
        "sites": sites[[c for c in SITE_COLUMNS if c in sites.columns] + ["geometry"]],
        "coverage": analysis.coverage.to_crs("EPSG:4326"),
        "blankspots": analysis.blankspots.to_crs("EPSG:4326"),
    }
    for name, frame in layers.items():
        frame = _plain(frame)
        frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return path


def _plain(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns as types every GDAL driver takes (text ids, float times)."""
    out = frame.copy()
    for col in out.columns:
        if col != out.geometry.name and out[col].dtype == object:
            out[col] = out[col].astype("string")
    return out


def write_geojson(districts: gpd.GeoDataFrame, path: Path) -> Path:
    """RFC 7946 GeoJSON with each feature's ``id`` the district id (Grafana geomap lookup)."""
    path.write_text(districts_geojson(districts), encoding="utf-8")
    return path


def districts_geojson(districts: gpd.GeoDataFrame) -> str:
    """The district figures as GeoJSON text, features keyed by district id."""
    frame = _plain(districts).set_index("district", drop=False)
    frame.index.name = None
    return frame.to_json(na="null", drop_id=False, to_wgs84=True)


def write_summary(analysis: Analysis, path: Path) -> Path:
    """Figures per district without geometry, one CSV row each."""
    table = safe_frame(analysis.districts.drop(columns="geometry"))
    table.to_csv(path, index=False, float_format="%.6g")
    return path


def write_png(
    analysis: Analysis,
    stem: str,
    path: Path,
    *,
    size: MapSize = MAP_SIZES["projector"],
    lang: str = "id",
) -> Path:
    """One map of :data:`~pantau.geo.mapfigure.MAPS` (``stem``) as a PNG of ``size``."""
    caption = fmt.period(analysis.start, analysis.end, lang, analysis.zone)
    fig = draw_map(analysis, stem, size, lang=lang, caption=caption)
    fig.savefig(path, format="png", dpi=size.dpi)
    return path


def local_time(t: float, zone: tzinfo | str = "UTC") -> str:
    """``t`` as ISO 8601 in ``zone`` with its offset (``2026-11-01T00:00:00+08:00``); "" for NaN."""
    if t != t:
        return ""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return datetime.fromtimestamp(t, tz).isoformat(timespec="seconds")


def analysis_json(analysis: Analysis) -> dict:
    """Compact JSON of the district figures (no geometry), for APIs and the HTML pages."""
    frame = analysis.districts.drop(columns="geometry")
    return {
        "at": format_time(analysis.at),
        "start": format_time(analysis.start),
        "timezone": analysis.zone,
        "end": format_time(analysis.end),
        "districts": json.loads(frame.to_json(orient="records")),
    }
