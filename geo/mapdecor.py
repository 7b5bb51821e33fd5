"""What a map carries besides its data: district names that fit, a scale bar, a north arrow.

Used by :mod:`pantau.geo.mapfigure`; the axes are in metres (a UTM zone), so the scale bar's
length is a plain difference of x. Labels never cover one another: each is kept only if its box
is clear of those placed before it (the down sites' names go first).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes


def keep_if_clear(artist: Any, placed: list) -> None:
    """Remove ``artist`` if it overlaps a label already placed; else remember its box."""
    box = artist.get_window_extent(artist.figure.canvas.get_renderer()).expanded(1.05, 1.1)
    if any(box.overlaps(other) for other in placed):
        artist.remove()
    else:
        placed.append(box)


def district_labels(ax: Axes, districts: gpd.GeoDataFrame, font: float, placed: list) -> None:
    """Names at each polygon's pole of inaccessibility, where the text fits inside."""
    import matplotlib.patheffects as pe
    import shapely

    fig = ax.figure
    fig.canvas.draw()  # the data-to-pixel scale is known once the axes are laid out
    to_px = ax.transData.transform
    (x0, _), (x1, _) = to_px([(0, 0), (1, 0)])
    px_per_m = abs(x1 - x0)
    pt_px = fig.dpi / 72
    halo = [pe.withStroke(linewidth=2.2, foreground="white")]
    for name, geom in zip(districts["name"], districts.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        part = max(shapely.get_parts(geom), key=lambda g: g.area)
        centre = shapely.ops.polylabel(part, tolerance=max(1.0, math.sqrt(part.area) / 200))
        radius_px = part.exterior.distance(centre) * px_per_m
        label = fitting_label(str(name), radius_px, font * pt_px)
        if label is not None:
            artist = ax.text(centre.x, centre.y, label, ha="center", va="center", fontsize=font,
                             color="#111111", path_effects=halo, zorder=5)  # fmt: skip
            keep_if_clear(artist, placed)


def fitting_label(name: str, radius_px: float, em_px: float) -> str | None:
    """``name`` on one line, or two, if it fits a circle of ``radius_px``; else None."""
    words = name.split()
    options = [name]
    if len(words) > 1:
        cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(name) / 2))
        options.append(" ".join(words[:cut]) + "\n" + " ".join(words[cut:]))
    for label in options:
        lines = label.split("\n")
        width = 0.6 * em_px * max(len(x) for x in lines)
        height = 1.25 * em_px * len(lines)
        if width <= 1.9 * radius_px and height <= 1.6 * radius_px:
            return label
    return None


def scale_bar(ax: Axes, font: float) -> None:
    """A bar of a round length near a fifth of the map's width (the axes are in metres)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    exp = 10 ** math.floor(math.log10(target))
    length = max(m * exp for m in (1, 2, 5) if m * exp <= target)
    bx, by = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    h = 0.008 * (y1 - y0)
    ax.fill_between([bx - 0.01 * (x1 - x0), bx + length + 0.06 * (x1 - x0)], by - 2 * h,
                    by + 5.5 * h, color="white", alpha=0.85, zorder=8, linewidth=0)  # fmt: skip
    half = length / 2
    ax.fill_between([bx, bx + half], by, by + h, color="black", zorder=9)
    ax.fill_between([bx + half, bx + length], by, by + h, color="white", edgecolor="black",
                    linewidth=0.8, zorder=9)  # fmt: skip
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    for pos, txt in ((bx, "0"), (bx + length, label)):
        ax.text(pos, by + 1.6 * h, txt, ha="center", va="bottom", fontsize=font * 0.85, zorder=9)


def north_arrow(ax: Axes, font: float, letter: str) -> None:
    ax.annotate(
        letter,
        xy=(0.5, 0.95),
        xytext=(0.5, 0.25),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=font * 1.2,
        fontweight="bold",
        zorder=9,
        arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
    )
