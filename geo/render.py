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
from pantau.geo.progress import Progress, null_progress

if TYPE_CHECKING:
    import geopandas as gpd

    from pantau.geo.analysis import Analysis

#: The choropleths: file stem, column, title.
CHOROPLETHS = (
    ("blankspot_ratio", "blankspot_ratio", "Blankspot ratio (area without working coverage)"),
    ("supervision_coverage", "supervision_coverage_ratio", "Supervision coverage ratio"),
    ("availability", "availability_ratio", "Availability of watched sites"),
)
STATE_COLOURS = {"up": "#1a9850", "down": "#d73027", "unknown": "#808080"}
SITE_COLUMNS = (
    "site", "name", "kind", "district", "assigned_by", "snap_distance_m", "declared",
    "declared_conflict", "probes", "state", "last_result", "supervised", "working", "radius_m",
    "downtime_s", "outages", "availability",
)  # fmt: skip


def write_all(analysis: Analysis, out: Path, progress: Progress = null_progress) -> list[Path]:
    """Write every map output into ``out`` (created); return the paths written."""
    from pantau.geo.htmlmap import write_html_map

    out.mkdir(parents=True, exist_ok=True)
    steps = [
        lambda: write_geopackage(analysis, out / "pantau-geo.gpkg"),
        lambda: write_geojson(analysis.districts, out / "districts.geojson"),
        *[
            (lambda c=c, t=t, s=s: write_png(analysis, c, t, out / f"{s}.png"))
            for s, c, t in CHOROPLETHS
        ],
        lambda: write_html_map(analysis, out / "map.html"),
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


def write_png(analysis: Analysis, column: str, title: str, path: Path) -> Path:
    """A choropleth of one 0..1 column with a colour bar, the sites on top by state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(10, 8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    analysis.districts.plot(
        column=column, ax=ax, cmap="RdYlGn_r" if "blankspot" in column else "RdYlGn",
        vmin=0, vmax=1, edgecolor="#333333", linewidth=0.3, legend=True,
        legend_kwds={"label": column, "shrink": 0.7, "extend": "neither"},
        missing_kwds={"color": "#dddddd", "label": "no data"},
    )  # fmt: skip
    if len(analysis.coverage):
        analysis.coverage.to_crs("EPSG:4326").plot(ax=ax, color="#4575b4", alpha=0.45, linewidth=0)
    sites = analysis.sites
    if len(sites):
        colours = sites["state"].map(STATE_COLOURS).fillna("#808080")
        ax.scatter(sites.geometry.x, sites.geometry.y, c=colours, s=14, edgecolors="black",
                   linewidths=0.4, zorder=3)  # fmt: skip
    handles = [
        Line2D([], [], marker="o", linestyle="", color=c, markeredgecolor="black", label=s)
        for s, c in STATE_COLOURS.items()
    ]
    handles.append(Line2D([], [], marker="s", linestyle="", color="#dddddd", label="no data"))
    handles.append(Line2D([], [], marker="s", linestyle="", color="#4575b4", label="covered now"))
    ax.legend(handles=handles, title="sites", loc="lower left", fontsize=8)
    ax.set_title(f"{title}\n{_period(analysis)}", fontsize=11)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def local_time(t: float, zone: tzinfo | str = "UTC") -> str:
    """``t`` as ISO 8601 in ``zone`` with its offset (``2026-11-01T00:00:00+08:00``); "" for NaN."""
    if t != t:
        return ""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return datetime.fromtimestamp(t, tz).isoformat(timespec="seconds")


def _period(analysis: Analysis) -> str:
    def short(t: float) -> str:
        return local_time(t, analysis.zone)[:16]

    return (
        f"at {short(analysis.at)}; availability {short(analysis.start)} .. {short(analysis.end)}"
        f" ({analysis.zone})"
    )


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
