"""Assignment, supervision and blankspots on hand-drawn layouts whose answers are worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shapely
from geo_layouts import districts, local_to_lonlat, site, sites

from pantau.geo.assign import assign_sites, assignment_problems
from pantau.geo.coverage import (
    blankspots,
    coverage_circles,
    equal_area_crs,
    site_radius,
    supervision,
    supervision_table,
)
from pantau.geo.history import blankspot_history

BPP = (116.85, -1.25)  # Balikpapan: UTM 50S


def square(lon, lat, half_m, dx=0.0, dy=0.0):
    return local_to_lonlat(
        lon, lat, shapely.box(dx - half_m, dy - half_m, dx + half_m, dy + half_m)
    )


def working(frame, up=()):
    frame = frame.copy()
    frame["district"] = None
    frame["working"] = frame["site"].isin(up)
    frame["radius_m"] = site_radius(frame, {"hotspot": 100.0, "bts": 3000.0})
    return frame


# Places chosen to cross what a single-UTM-zone buffer gets wrong: both hemispheres, the equator,
# UTM zone borders (120°E is the 50/51 border) and the far west and east of Indonesia.
PLACES = {
    "balikpapan-50S": (116.85, -1.25),
    "medan-47N": (98.67, 3.59),
    "merauke-54S": (140.40, -8.49),
    "equator-zone-border": (120.0, 0.0),
    "sabang-46N": (95.32, 5.89),
}


@pytest.mark.parametrize("place", PLACES.values(), ids=PLACES.keys())
def test_square_minus_hotspot_circle_by_hand(place):
    # A 2 km x 2 km district with one 500 m hotspot at its centre:
    # blankspot = 4 km2 - pi * 0.5^2 km2 = 3.2146 km2.
    lon, lat = place
    d = districts([("A", square(lon, lat, 1000))])
    s = working(sites(site("h", lon, lat, coverage_m=500)), up={"h"})
    s["district"] = "A"
    row = blankspots(d, s, threshold=0.9).districts.iloc[0]
    assert row["district_area_km2"] == pytest.approx(4.0, rel=0.005)
    assert row["blankspot_km2"] == pytest.approx(4 - math.pi * 0.25, rel=0.005)
    assert row["covered_km2"] == pytest.approx(math.pi * 0.25, rel=0.005)
    assert row["blankspot_ratio"] == pytest.approx(1 - math.pi / 16, rel=0.005)
    assert not row["blankspot_flag"]  # 80 % blank, under the 0.9 threshold
    assert blankspots(d, s, threshold=0.5).districts.iloc[0]["blankspot_flag"]
    assert row["sites_working"] == 1


def test_flag_when_ratio_passes_threshold_or_nothing_works():
    lon, lat = BPP
    d = districts([("A", square(lon, lat, 1000)), ("B", square(lon, lat, 1000, dx=2000))])
    s = working(
        sites(site("h", lon, lat, coverage_m=1500), site("x", lon + 0.018, lat, coverage_m=50)),
        up={"h"},
    )
    s["district"] = ["A", "B"]
    table = blankspots(d, s, threshold=0.5).districts.set_index("district")
    assert table.loc["A", "blankspot_ratio"] < 0.5  # circle of 1.5 km covers most of 2x2 km
    # B gets a sliver of A's circle (1.5 km reaches 500 m into it) but its own point is down.
    assert 0 < table.loc["B", "covered_km2"] < 1
    assert table.loc["B", "sites_working"] == 0
    assert table.loc["B", "blankspot_flag"] and not table.loc["A", "blankspot_flag"]


@pytest.mark.parametrize("place", PLACES.values(), ids=PLACES.keys())
def test_bts_circle_area_is_geodesic_anywhere(place):
    lon, lat = place
    crs = equal_area_crs((lon - 1, lat - 1, lon + 1, lat + 1))
    (circle,) = coverage_circles(np.array([lon]), np.array([lat]), np.array([3000.0]), crs)
    assert circle.area == pytest.approx(math.pi * 3000**2, rel=0.001)
    # Every vertex is 3 km (x the area-equalising factor, 1.0008) from the centre on the
    # ellipsoid, even where the circle straddles the equator or a zone border.
    from pyproj import Geod, Transformer

    xy = shapely.get_coordinates(circle)[:-1]
    vlon, vlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(*xy.T)
    dist = Geod(ellps="WGS84").inv(np.full(len(xy), lon), np.full(len(xy), lat), vlon, vlat)[2]
    assert dist == pytest.approx(np.full(len(xy), 3000 * 1.0008), rel=0.0002)


def test_circle_far_from_the_projection_centre_keeps_its_area():
    # The equal-area CRS is centred on the whole country; a circle at Sabang is ~2,700 km away.
    crs = equal_area_crs((95.0, -11.0, 141.0, 6.0))
    lon, lat = PLACES["sabang-46N"]
    (circle,) = coverage_circles(np.array([lon]), np.array([lat]), np.array([3000.0]), crs)
    assert circle.area == pytest.approx(math.pi * 3000**2, rel=0.001)


def test_circle_straddling_equator_and_zone_border_clips_into_four_quadrants():
    lon, lat = 120.0, 0.0
    quad = 2000
    rows = [
        (name, square(lon, lat, quad / 2, dx=sx * quad / 2, dy=sy * quad / 2))
        for name, sx, sy in (("NE", 1, 1), ("NW", -1, 1), ("SE", 1, -1), ("SW", -1, -1))
    ]
    d = districts(rows)
    s = working(sites(site("b", lon, lat, coverage_m=1000)), up={"b"})
    table = blankspots(d, s, threshold=0.5).districts.set_index("district")
    for name in ("NE", "NW", "SE", "SW"):  # a quarter circle in each
        assert table.loc[name, "covered_km2"] == pytest.approx(math.pi / 4, rel=0.005)


def test_settlements_limit_the_blankspot_to_where_people_live():
    lon, lat = BPP
    d = districts([("A", square(lon, lat, 1000))])
    # A 400 x 400 m settlement in the NE corner, outside the 500 m circle except a corner bit.
    settle = districts([("s", square(lon, lat, 200, dx=700, dy=700))])
    s = working(sites(site("h", lon, lat, coverage_m=500)), up={"h"})
    s["district"] = "A"
    row = blankspots(d, s, threshold=0.5, settlements=settle).districts.iloc[0]
    assert row["target_area_km2"] == pytest.approx(0.16, rel=0.005)
    assert row["blankspot_km2"] == pytest.approx(0.16, rel=0.005)  # corner (500..900) is > 500 m
    assert row["district_area_km2"] == pytest.approx(4.0, rel=0.005)


def test_point_on_shared_border_gets_exactly_one_district_whatever_the_order():
    lon, lat = BPP
    west, east = square(lon, lat, 500, dx=-500), square(lon, lat, 500, dx=500)
    # A vertex both polygons share: exactly on the border line x=0.
    border = shapely.get_coordinates(west)
    on_border = border[np.argmin(np.abs(border[:, 0] - lon) + np.abs(border[:, 1] - lat))]
    pts = sites(site("b", float(on_border[0]), float(on_border[1])), site("in", lon + 0.004, lat))
    for rows in ([("64.2", east), ("64.1", west)], [("64.1", west), ("64.2", east)]):
        out = assign_sites(pts, districts(rows), snap_m=0).set_index("site")
        assert out.loc["b", "district"] == "64.1"  # smallest id wins on a shared border
        assert out.loc["b", "assigned_by"] == "shared"
        assert out.loc["in", "district"] == "64.2"
        assert out.loc["in", "assigned_by"] == "inside"


def test_point_outside_snaps_within_snap_m_else_reported():
    lon, lat = BPP
    d = districts([("A", square(lon, lat, 500)), ("B", square(lon, lat, 500, dx=5000))])
    near = local_to_lonlat(lon, lat, shapely.Point(800, 0))  # 300 m east of A
    far = local_to_lonlat(lon, lat, shapely.Point(0, 2500))  # 2 km north of A
    pts = sites(
        site("near", near.x, near.y),
        site("far", far.x, far.y, district="A"),
        site("wrong", lon, lat, district="B"),
    )
    out = assign_sites(pts, d, snap_m=500).set_index("site")
    assert out.loc["near", "district"] == "A" and out.loc["near", "assigned_by"] == "snapped"
    assert out.loc["near", "snap_distance_m"] == pytest.approx(300, abs=2)
    assert pd.isna(out.loc["far", "district"]) and out.loc["far", "assigned_by"] == "unassigned"
    assert out.loc["wrong", "district"] == "A" and out.loc["wrong", "declared_conflict"]
    assert not out.loc["far", "declared_conflict"]  # unassigned: reported as such instead
    problems = assignment_problems(out.reset_index(), 500)
    assert any("'far'" in p and "outside every district" in p for p in problems)
    assert any("'wrong'" in p and "declared district 'B'" in p and "'A'" in p for p in problems)
    assert len(problems) == 2
    none = assign_sites(pts, d, snap_m=0).set_index("site")
    assert none.loc["near", "assigned_by"] == "unassigned"


def test_supervision_counts_probe_and_fresh_result():
    lon, lat = BPP
    pts = sites(
        site("a", lon, lat, kind="bts", address="127.0.0.1", probes=("icmp",)),
        site("b", lon, lat, kind="bts", address="127.0.0.1", probes=("icmp",)),
        site("c", lon, lat, kind="hotspot"),  # no probe: registered, never supervised
        site("d", lon, lat, kind="hotspot", address="127.0.0.1", probes=("icmp",)),
    )
    pts["district"] = ["A", "A", "A", None]
    now = 1_000_000.0
    states = pd.DataFrame(
        {
            "site": ["a", "b", "c", "d"],
            "state": ["up", "down", "up", "up"],
            "last_result": [now - 60, now - 3600, now - 1, now - 5],  # b's last result is stale
        }
    )
    table = supervision_table(supervision(pts, states, now=now, window=900))
    t = table.set_index(["district", "kind"])
    assert t.loc[("A", "all"), "registered"] == 3 and t.loc[("A", "all"), "supervised"] == 1
    assert t.loc[("A", "bts"), "supervision_coverage_ratio"] == 0.5
    assert t.loc[("ALL", "all"), "supervised"] == 2
    assert t.loc[("ALL", "all"), "supervision_coverage_ratio"] == 0.5
    assert t.loc[("UNASSIGNED", "all"), "registered"] == 1


def test_history_time_weights_blankspots():
    lon, lat = BPP
    d = districts([("A", square(lon, lat, 1000))])
    s = working(sites(site("h", lon, lat, coverage_m=500), site("g", lon, lat, coverage_m=250)))
    t0, t1 = 0.0, 10 * 3600.0
    outages = pd.DataFrame(
        {
            "site": ["h", "h", "g"],
            "start": [3600.0, 7200.0, 3600.0 * 1.5],
            "end": [2 * 3600.0, np.nan, 2 * 3600.0],  # h down 1-2 h and from 2 h on (open)
        }
    )
    out = blankspot_history(d, s, outages, t0, t1).iloc[0]
    circle = math.pi * 0.25
    small = math.pi * 0.0625
    # h (covers g's circle too) is up for 1 h only; g is down 1.5-2 h. Covered km2-hours:
    covered = circle * 1 + small * (0.5 + 8)
    assert out["blankspot_km2h"] == pytest.approx(4 * 10 - covered, rel=0.005)
    assert out["coverage_availability"] == pytest.approx(covered / (circle * 10), rel=0.005)


@pytest.mark.parametrize("where", [BPP, (95.32, 5.55), (140.70, -2.53)])  # Balikpapan, Aceh, Papua
def test_snap_distance_is_that_of_the_points_own_equidistant_projection(where):
    # The snap distance, measured in an azimuthal equidistant CRS centred on the site (PROJ's
    # own choice of operation from lon/lat, found by from_crs), to the last bit.
    from pyproj import CRS, Transformer

    lon, lat = where
    d = districts([("A", square(lon, lat, 500))])
    near = local_to_lonlat(lon, lat, shapely.Point(640, 170))  # 140 m east of A
    out = assign_sites(sites(site("near", near.x, near.y)), d, snap_m=500).iloc[0]
    aeqd = CRS.from_proj4(f"+proj=aeqd +lat_0={near.y} +lon_0={near.x} +datum=WGS84 +units=m")
    to_aeqd = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    polygon = shapely.transform(
        d.geometry.values[0], lambda xy: np.column_stack(to_aeqd.transform(xy[:, 0], xy[:, 1]))
    )
    assert out["assigned_by"] == "snapped"
    assert out["snap_distance_m"] == shapely.distance(shapely.Point(0.0, 0.0), polygon)
    assert 139 < out["snap_distance_m"] < 141  # 140 m east of the square
