"""Static maps people read at a glance: one choropleth, sites by state, legend beside the map.

Drawn in the UTM zone of the area (metres, shapes true), framed tight on the districts, with
district names where they fit, a scale bar and a north arrow. Colours come in a few classes
fitted to the values at hand (so 99.1 % and 99.9 % differ), from single-hue ramps that no
site marker uses; a down site is a large red triangle drawn last, with its name, so the eye
finds it first. Districts without a figure are hatched and say "no data", never coloured as good.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from pantau.geo import reportfmt as fmt
from pantau.geo.mapdecor import district_labels, keep_if_clear, north_arrow, scale_bar
from pantau.geo.reportstrings import text

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from pantau.geo.analysis import Analysis


@dataclasses.dataclass(frozen=True)
class MapSize:
    """Figure size in inches, resolution and base font size (points)."""

    width: float
    height: float
    dpi: int
    font: float


MAP_SIZES = {
    "page": MapSize(7.0, 7.6, 200, 7.5),  # A4 text width (178 mm), 1400 x 1520 px
    "projector": MapSize(16.0, 9.0, 120, 12.0),  # 1920 x 1080 px
}

#: Map stem -> (column, title key, higher is worse, colour ramp).
MAPS = {
    "blankspot_ratio": ("blankspot_ratio", "map_blankspot_ratio", True, "Purples"),
    "supervision_coverage": ("supervision_coverage_ratio", "map_supervision_coverage", False,
                             "Blues"),
    "availability": ("availability_ratio", "map_availability", False, "Blues"),
}  # fmt: skip

#: Marker per state: shape, face, edge, size factor, drawing order (down last = on top).
STATE_STYLE = {
    "unknown": ("s", "#bdbdbd", "#404040", 0.8, 3),
    "up": ("o", "#1a9850", "white", 0.9, 4),
    "down": ("^", "#e31a1c", "black", 2.0, 6),
}
NO_DATA_FACE, NO_DATA_HATCH = "#f4f4f4", "////"
NICE_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25)


def class_edges(values: np.ndarray, max_classes: int = 5) -> np.ndarray:
    """Class boundaries for 0..1 ratios: round steps spanning the data, at most ``max_classes``.

    >>> class_edges(np.array([0.991, 0.999])).tolist()
    [0.99, 0.992, 0.994, 0.996, 0.998, 1.0]
    """
    vals = values[np.isfinite(values)]
    if not len(vals):
        return np.array([0.0, 1.0])
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo < 1e-9:  # one value: one class around it, inside 0..1
        return np.round(np.array([max(0.0, lo - 0.05), min(1.0, max(lo + 0.05, 0.05))]), 6)
    for step in NICE_STEPS:
        a, b = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
        if b <= a:
            b = a + step
        if (b - a) / step <= max_classes + 1e-9:
            break
    n = round((b - a) / step)
    return np.clip(np.round(a + step * np.arange(n + 1), 6), 0.0, 1.0)


def draw_map(analysis: Analysis, stem: str, size: MapSize, *, lang: str, caption: str) -> Figure:
    """One map of ``analysis`` as a matplotlib figure (not shown, not saved)."""
    column, title_key, _, ramp = MAPS[stem]
    crs = analysis.districts.estimate_utm_crs()
    districts = analysis.districts.to_crs(crs)
    sites = analysis.sites.to_crs(crs)
    lay = _layout(districts, size)
    fig, ax = lay.fig, lay.map
    fig.text(0.01, 1 - 0.06 / fig.get_figheight(), text(lang, title_key),
             fontsize=size.font * 1.6, fontweight="bold", va="top")  # fmt: skip
    fig.text(0.01, 1 - (0.1 + size.font * 2.3 / 72) / fig.get_figheight(), caption,
             fontsize=size.font, va="top", color="#333333")  # fmt: skip
    edges = class_edges(districts[column].to_numpy(float))
    cmap, norm = _classes(ramp, edges)
    _choropleth(ax, districts, column, cmap, norm)
    if stem == "blankspot_ratio" and len(analysis.coverage):
        analysis.coverage.to_crs(crs).boundary.plot(
            ax=ax, color="#e08214", linewidth=0.9, linestyle=(0, (3, 1.5)), zorder=2
        )
    _frame(ax, districts)
    placed: list = []  # label boxes in pixels: a later label never covers an earlier one
    _sites(ax, sites, size, placed)
    district_labels(ax, districts, size.font * 0.85, placed)
    scale_bar(ax, size.font)
    north_arrow(lay.north, size.font, text(lang, "north"))
    if np.isfinite(districts[column].to_numpy(float)).any():
        _colour_bar(lay, cmap, norm, edges, lang, size.font, text(lang, "bar_" + stem))
    else:  # no district has a figure: no colour scale to read, say so instead
        lay.bar.set_axis_off()
        lay.bar.set_title(text(lang, "bar_" + stem), fontsize=size.font, loc="left")
        lay.bar.text(0, 0.5, text(lang, "no_data"), fontsize=size.font * 1.2, va="center",
                     style="italic", color="#8a5a00", transform=lay.bar.transAxes)  # fmt: skip
    _legend(lay, sites, lang, size.font, coverage=stem == "blankspot_ratio")
    return fig


@dataclasses.dataclass(frozen=True)
class _Layout:
    fig: Figure
    map: Axes
    bar: Axes
    legend: Axes
    north: Axes
    horizontal: bool  # page: colour bar and legend in a strip under the map


def _layout(districts: gpd.GeoDataFrame, size: MapSize) -> _Layout:
    """Figure and axes in inches: a header, the map, and the colour bar and legend off the map.

    A wide figure (a projector) keeps its size, the legend goes right and the map fills its
    box; a page figure spans the text width, takes the height the area's shape needs (so the
    frame sits tight on the districts) and carries the legend in a strip under the map.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    minx, miny, maxx, maxy = districts.total_bounds
    aspect = (maxy - miny) / max(maxx - minx, 1.0)
    header = 0.2 + size.font * 4.0 / 72
    wide = size.width / size.height > 1.3
    W = size.width
    if wide:
        panel = 0.24 * W
        map_w, H = W - panel - 0.15, size.height
        map_h, strip = H - header - 0.1, 0.0
    else:
        strip = size.font * 11 / 72
        map_w = W - 0.16
        map_h = min(max(map_w * aspect * 1.04, 0.35 * W), size.height - header - strip)
        H = map_h + header + strip + 0.1
    fig = Figure(figsize=(W, H), dpi=size.dpi)
    FigureCanvasAgg(fig)

    def axes(x: float, y: float, w: float, h: float) -> Axes:
        return fig.add_axes((x / W, y / H, w / W, h / H))

    y0 = 0.08 + strip
    ax = axes(0.08, y0, map_w, map_h)
    em = size.font / 72
    if wide:
        x = W - panel + 0.05
        bar_h = min(0.42 * map_h, 3.2)
        bar_top = y0 + map_h - 2.4 * em
        bar = axes(x + 0.1, bar_top - bar_h, 0.22, bar_h)
        north = axes(x, y0, 0.6, 0.9)
        legend = axes(x, y0 + 1.0, panel - 0.1, bar_top - bar_h - 1.35 - y0)
    else:
        bar = axes(0.45, 0.08 + 4.2 * em, 0.34 * W, 1.1 * em)
        legend = axes(0.45 * W, 0.08, 0.47 * W, strip - 0.1)
        north = axes(W - 0.55, 0.1, 0.45, strip - 0.2)
    for a in (legend, north):
        a.set_axis_off()
    return _Layout(fig, ax, bar, legend, north, not wide)


def _classes(ramp: str, edges: np.ndarray) -> tuple:
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = len(edges) - 1
    base = colormaps[ramp]
    # Dark means more: more blank area (bad) or more coverage and availability (good); the
    # colour bar's labels say which. Light shades stay clear of the hatched "no data".
    shades = base(np.linspace(0.25, 0.95, n)) if n > 1 else base([0.6])
    return ListedColormap(shades), BoundaryNorm(edges, n)


def _choropleth(ax: Axes, districts: gpd.GeoDataFrame, column: str, cmap, norm) -> None:
    values = districts[column].to_numpy(float)
    has = np.isfinite(values)
    if has.any():
        districts[has].plot(ax=ax, color=cmap(norm(values[has])), linewidth=0, zorder=1)
    if (~has).any():  # the hatch takes the edge colour: a light one, boundaries drawn after
        districts[~has].plot(ax=ax, facecolor=NO_DATA_FACE, edgecolor="#9a9a9a", linewidth=0,
                             hatch=NO_DATA_HATCH, zorder=1)  # fmt: skip
    districts.boundary.plot(ax=ax, color="#555555", linewidth=0.5, zorder=1.5)


def _frame(ax: Axes, districts: gpd.GeoDataFrame) -> None:
    minx, miny, maxx, maxy = districts.total_bounds
    pad = 0.02 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_facecolor("#eef3f7")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for spine in ax.spines.values():
        spine.set_color("#888888")


def _sites(ax: Axes, sites: gpd.GeoDataFrame, size: MapSize, placed: list) -> None:
    import matplotlib.patheffects as pe

    base = (size.font * 0.9) ** 2
    for state, (marker, face, edge, k, z) in STATE_STYLE.items():
        sel = sites[sites["state"].fillna("unknown") == state]
        if sel.empty:
            continue
        width = 1.3 if state == "down" else 1.0
        ax.scatter(sel.geometry.x, sel.geometry.y, marker=marker, s=base * k * k, c=face,
                   edgecolors=edge, linewidths=width, zorder=z)  # fmt: skip
    down = sites[sites["state"] == "down"]
    if 0 < len(down) <= 12:
        ax.figure.canvas.draw()  # pixel positions of the frame, for the overlap test
        halo = [pe.withStroke(linewidth=2.5, foreground="white")]
        for x, y, name in zip(down.geometry.x, down.geometry.y, down["name"], strict=True):
            artist = ax.annotate(str(name), (x, y), xytext=(size.font * 0.9, -size.font * 0.3),
                                 textcoords="offset points", fontsize=size.font * 0.9,
                                 color="#b00000", fontweight="bold", path_effects=halo,
                                 zorder=7)  # fmt: skip
            keep_if_clear(artist, placed)


def _colour_bar(lay: _Layout, cmap, norm, edges: np.ndarray, lang: str, font: float,
                title: str) -> None:  # fmt: skip
    from matplotlib.cm import ScalarMappable

    orientation = "horizontal" if lay.horizontal else "vertical"
    bar = lay.fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=lay.bar, ticks=edges,
                           spacing="uniform", orientation=orientation)  # fmt: skip
    decimals = 0 if np.allclose(edges * 100, np.round(edges * 100)) else 1
    if not np.allclose(edges * 1000, np.round(edges * 1000)):
        decimals = 2
    labels = [fmt.percent(e, lang, decimals) for e in edges]
    bar.set_ticks(edges.tolist(), labels=labels, fontsize=font)
    bar.outline.set_linewidth(0.6)
    lay.bar.set_title(title, fontsize=font, loc="left", pad=font * 0.8)


def _legend(lay: _Layout, sites: gpd.GeoDataFrame, lang: str, font: float, *, coverage: bool
            ) -> None:  # fmt: skip
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    counts = sites["state"].fillna("unknown").value_counts()
    handles: list[Artist] = [
        Line2D([], [], marker=m, linestyle="", markerfacecolor=f, markeredgecolor=e,
               markersize=font * 0.9 * k, label=f"{text(lang, 'state_' + s)} ({counts.get(s, 0)})")
        for s, (m, f, e, k, _) in sorted(STATE_STYLE.items(), key=lambda kv: -kv[1][4])
    ]  # fmt: skip
    handles.append(Patch(facecolor=NO_DATA_FACE, edgecolor="#9a9a9a", hatch=NO_DATA_HATCH,
                         label=text(lang, "legend_no_data")))  # fmt: skip
    if coverage:
        handles.append(Line2D([], [], color="#e08214", linestyle=(0, (3, 1.5)),
                              label=text(lang, "legend_coverage")))  # fmt: skip
    lay.legend.legend(handles=handles, title=text(lang, "legend_sites"), loc="upper left",
                      fontsize=font, title_fontsize=font, frameon=False, alignment="left",
                      borderaxespad=0, ncols=2 if lay.horizontal else 1)  # fmt: skip
