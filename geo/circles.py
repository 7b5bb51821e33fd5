"""Coverage circles of sites, built once for every figure that needs them (pure functions).

One implementation for the snapshot (:func:`~.coverage.blankspots`), the period figures
(:func:`~.history.blankspot_history`) and everything drawn from them, so that the areas of the
same sites agree everywhere.

Each circle is drawn in the equal-area CRS: the points at the coverage radius due north and due
east of the site are found by the forward geodesic problem on WGS 84 (``pyproj.Geod.fwd``: exact
anywhere) and projected with the site; the circle's vertices then follow the local linearisation
of the projection through those two points, ``centre + E sin(a) + N cos(a)`` (an ellipse of area
pi r^2, since LAEA has unit areal scale). Over a few kilometres the projection's local distortion
changes by less than 1e-4, so this equals buffering each point in an azimuthal equidistant
projection centred on it, at 3 projected points per site instead of 64. The radius is enlarged
slightly so that the n-gon has the area of the true circle.

Each circle also carries two discs around its centre, one inside it and one around it (from the
singular values of ``[E N]``): with them, which circles touch and which lie within another is
decided by arithmetic on centres, not by a GEOS predicate per pair.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pyproj import CRS

SEGMENTS = 64
#: Circles up to this radius (hotspots, offices, VSATs) get SMALL_SEGMENTS vertices: each is
#: still exactly of its circle's area, its outline within 2 % of the radius (2 m at 100 m), and a
#: snapshot at national scale has a quarter of the vertices to overlay.
SMALL_RADIUS_M = 500.0
SMALL_SEGMENTS = 16


@dataclasses.dataclass(frozen=True)
class Circles:
    """Circle polygons in the equal-area CRS, with their centres and two bounding discs."""

    polygons: np.ndarray  # shapely Polygons
    x: np.ndarray
    y: np.ndarray
    outer: np.ndarray  # every vertex within this distance of the centre
    inner: np.ndarray  # the disc of this radius lies inside the polygon


def _axes(
    lon: np.ndarray, lat: np.ndarray, radius_m: np.ndarray, crs: CRS, segments: int
) -> tuple[np.ndarray, ...]:
    """Projected centre and the east and north axis vectors of each (area-enlarged) circle."""
    from pyproj import Geod, Transformer

    n = len(lon)
    # Radius giving the n-gon the area of the circle: area(n-gon) = n/2 r^2 sin(2 pi / n).
    equal = math.sqrt(2 * math.pi / (segments * math.sin(2 * math.pi / segments)))
    r = np.asarray(radius_m, float) * equal
    geod = Geod(ellps="WGS84")
    east = geod.fwd(lon, lat, np.full(n, 90.0), r)[:2]
    north = geod.fwd(lon, lat, np.zeros(n), r)[:2]
    to_ea = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    cx, cy = to_ea.transform(lon, lat)
    ex, ey = to_ea.transform(*east)
    nx, ny = to_ea.transform(*north)
    return cx, cy, ex - cx, ey - cy, nx - cx, ny - cy


def _polygons(
    cx: np.ndarray, cy: np.ndarray, axes: tuple[np.ndarray, ...], segments: int
) -> np.ndarray:
    """The n-gons ``centre + E sin(a) + N cos(a)``, built in one call from a ragged array."""
    import shapely

    ex, ey, nx, ny = axes
    theta = np.linspace(0.0, 2 * math.pi, segments + 1)  # azimuth, clockwise from N; closed
    theta[-1] = 0.0
    sin, cos = np.sin(theta)[None, :], np.cos(theta)[None, :]
    coords = np.empty((len(cx), segments + 1, 2))
    coords[:, :, 0] = cx[:, None] + ex[:, None] * sin + nx[:, None] * cos
    coords[:, :, 1] = cy[:, None] + ey[:, None] * sin + ny[:, None] * cos
    rings = np.arange(len(cx) + 1) * (segments + 1)
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, coords.reshape(-1, 2), (rings, np.arange(len(cx) + 1))
    )


def coverage_circles(
    lon: np.ndarray, lat: np.ndarray, radius_m: np.ndarray, crs: CRS, segments: int = SEGMENTS
) -> np.ndarray:
    """Geodesic circles around points, as shapely polygons in ``crs`` (see module docstring)."""
    if len(lon) == 0:
        return np.array([], dtype=object)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    cx, cy, *axes = _axes(lon, lat, radius_m, crs, segments)
    return _polygons(cx, cy, tuple(axes), segments)


def site_circles(lon: np.ndarray, lat: np.ndarray, radius_m: np.ndarray, crs: CRS) -> Circles:
    """Every site's coverage circle: SMALL_SEGMENTS vertices up to SMALL_RADIUS_M, else SEGMENTS.

    Built in chunks of sites over the cores (threads; pyproj and shapely release the GIL).
    """
    from pantau.geo.threads import in_chunks

    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    radius = np.asarray(radius_m, float)
    chunks = in_chunks(lambda a, b: _site_circles(lon[a:b], lat[a:b], radius[a:b], crs), len(lon))
    if not chunks:
        return _site_circles(lon, lat, radius, crs)
    fields = [f.name for f in dataclasses.fields(Circles)]
    return Circles(*(np.concatenate([getattr(c, f) for c in chunks]) for f in fields))


def _site_circles(lon: np.ndarray, lat: np.ndarray, radius: np.ndarray, crs: CRS) -> Circles:
    n = len(lon)
    polygons = np.empty(n, dtype=object)
    x, y, outer, inner = (np.zeros(n) for _ in range(4))
    small = radius <= SMALL_RADIUS_M
    for pick, segments in ((small, SMALL_SEGMENTS), (~small, SEGMENTS)):
        if not pick.any():
            continue
        cx, cy, ex, ey, nx, ny = _axes(lon[pick], lat[pick], radius[pick], crs, segments)
        polygons[pick] = _polygons(cx, cy, (ex, ey, nx, ny), segments)
        # Singular values of [E N] (the ellipse's half axes; a stable closed form): the n-gon
        # lies within the larger and contains the disc of the smaller times cos(pi / n) (its
        # edges' midpoints). Widened by 1e-7 for rounding: a looser bound only costs a pair
        # test more or a dropped circle less, never a wrong union.
        p = np.hypot(ex + ny, nx - ey)
        q = np.hypot(ex - ny, nx + ey)
        x[pick], y[pick] = cx, cy
        outer[pick] = (p + q) / 2 * (1 + 1e-7)
        inner[pick] = np.abs(p - q) / 2 * math.cos(math.pi / segments) * (1 - 1e-7)
    return Circles(polygons, x, y, outer, inner)
