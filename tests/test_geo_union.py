"""The blankspot union: blobs, clipped areas and the period figures agree with plain overlays.

The snapshot, the period figures and the maps share one implementation (circles from
``site_circles``, blobs, ``covered_area`` / ``covered_and_blank``); these tests hold it against
the plain GEOS overlays it replaces, on seeded random layouts with every awkward case in them
(circles within circles, identical circles, chains crossing borders, two circle sizes).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely
from geo_layouts import districts, local_to_lonlat, site, sites
from pyproj import Transformer

from pantau.geo.circles import site_circles
from pantau.geo.coverage import blankspots, equal_area_crs, site_radius
from pantau.geo.coverage_union import coverage_blobs, covered_and_blank, covered_area
from pantau.geo.history import blankspot_history
from pantau.geo.threads import _group_bounds, split_map

BPP = (116.85, -1.25)
M = 1 / 111_320  # degrees per metre near the equator, near enough to place sites


def random_sites(n: int, seed: int, spread_m: float = 6000.0):
    """Seeded sites around Balikpapan: small and 3 km circles, a duplicate and a nested pair."""
    rng = np.random.default_rng(seed)
    lon = BPP[0] + rng.uniform(-spread_m, spread_m, n) * M
    lat = BPP[1] + rng.uniform(-spread_m, spread_m, n) * M
    radius = rng.choice([100.0, 300.0, 3000.0], n, p=[0.6, 0.3, 0.1])
    lon[1], lat[1], radius[1] = lon[0], lat[0], radius[0]  # identical circles
    lon[2], lat[2], radius[2] = lon[3] + 50 * M, lat[3], 100.0  # within...
    radius[3] = 3000.0  # ...this one
    return lon, lat, radius


def grid(half_m: float = 6000.0, cells: int = 4) -> list[shapely.Geometry]:
    """Square villages (in the equal-area CRS, as the computation clips them) tiling the area."""
    step = 2 * half_m / cells
    cx, cy = Transformer.from_crs("EPSG:4326", crs(), always_xy=True).transform(*BPP)
    return [
        shapely.box(cx - half_m + i * step, cy - half_m + j * step,
                    cx - half_m + (i + 1) * step, cy - half_m + (j + 1) * step)
        for i in range(cells) for j in range(cells)
    ]  # fmt: skip


def crs():
    return equal_area_crs((BPP[0] - 0.1, BPP[1] - 0.1, BPP[0] + 0.1, BPP[1] + 0.1))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_blobs_are_disjoint_and_their_union_is_the_circles_union(seed):
    lon, lat, radius = random_sites(400, seed)
    circles = site_circles(lon, lat, radius, crs())
    blobs = coverage_blobs(circles)
    plain = shapely.union_all(circles.polygons)
    assert len(blobs) < len(circles.polygons)  # circles were merged and dropped
    assert set(shapely.get_type_id(blobs)) == {3}  # Polygons only
    # Disjoint: the areas add up to the union's; and the union is the circles' union.
    assert shapely.area(blobs).sum() == pytest.approx(plain.area, rel=1e-9)
    assert shapely.symmetric_difference(shapely.union_all(blobs), plain).area < 1e-9 * plain.area


def test_bounding_discs_hold_every_vertex_and_fit_inside_the_polygon():
    lon, lat, radius = random_sites(200, 5)
    lon[:50] += 20.0  # far from the projection's centre: the circles are ellipses there
    c = site_circles(lon, lat, radius, crs())
    xy, idx = shapely.get_coordinates(c.polygons, return_index=True)
    dist = np.hypot(xy[:, 0] - c.x[idx], xy[:, 1] - c.y[idx])
    assert (dist <= c.outer[idx]).all()
    inner = shapely.buffer(shapely.points(c.x, c.y), c.inner, quad_segs=32)
    assert shapely.contains(c.polygons, inner).all()
    assert (c.inner > 0.95 * c.outer).all()  # tight enough to decide most pairs


@pytest.mark.parametrize("seed", [1, 2])
def test_covered_area_and_blank_equal_plain_overlays(seed):
    lon, lat, radius = random_sites(300, seed)
    circles = site_circles(lon, lat, radius, crs())
    target = np.array(grid(), dtype=object)
    plain = shapely.union_all(circles.polygons)
    expect = shapely.area(shapely.intersection(target, plain))
    area, covered, blank = covered_and_blank(target.copy(), coverage_blobs(circles))
    assert (expect > 0).all()
    np.testing.assert_allclose(area, expect, rtol=1e-9)
    np.testing.assert_allclose(covered_area(target.copy(), coverage_blobs(circles)), expect,
                               rtol=1e-9)  # fmt: skip
    np.testing.assert_allclose(shapely.area(covered), expect, rtol=1e-9)
    assert shapely.is_valid(blank).all()
    gap = shapely.area(shapely.symmetric_difference(blank, shapely.difference(target, plain)))
    assert (gap < 1e-6 * shapely.area(target)).all()


def _layout(lon: float, lat: float):
    def square(half: float, dx: float = 0.0):
        return local_to_lonlat(lon, lat, shapely.box(dx - half, -half, dx + half, half))

    d = districts([("A", square(2000)), ("B", square(2000, dx=4000))])
    s = sites(
        site("bts", lon + 1800 * M, lat, kind="bts"),  # crosses into B
        site("h1", lon - 500 * M, lat + 300 * M),  # within the BTS circle
        site("h2", lon - 1500 * M, lat - 1500 * M, coverage_m=800),
        site("h3", lon - 1000 * M, lat - 1200 * M, coverage_m=300),  # overlaps h2
        site("v", lon + 5000 * M, lat + 1000 * M, kind="vsat"),
    )
    s["district"] = ["A", "A", "A", "A", "B"]
    s["working"] = True
    s["probes"] = 1
    s["radius_m"] = site_radius(s, {"hotspot": 100.0, "bts": 3000.0, "vsat": 300.0})
    return d, s


def test_history_without_outages_is_the_snapshot():
    d, s = _layout(*BPP)
    snap = blankspots(d, s, threshold=0.5).districts.set_index("district")
    none = pd.DataFrame({"site": [], "start": [], "end": []})
    hist = blankspot_history(d, s, none, 0.0, 7200.0).set_index("district")
    for name in "AB":
        assert hist.loc[name, "blankspot_km2h"] == pytest.approx(
            2 * snap.loc[name, "blankspot_km2"], rel=1e-12
        )
        assert hist.loc[name, "coverage_availability"] == pytest.approx(1.0, rel=1e-12)


def test_history_sweeps_only_where_a_site_was_down():
    d, s = _layout(*BPP)
    snap = blankspots(d, s, threshold=0.5).districts.set_index("district")
    without_h2 = blankspots(d, s.assign(working=s["site"] != "h2"), threshold=0.5)
    without_h2 = without_h2.districts.set_index("district")
    down = pd.DataFrame({"site": ["h2"], "start": [0.0], "end": [3600.0]})  # first of 2 hours
    hist = blankspot_history(d, s, down, 0.0, 7200.0).set_index("district")
    # A: one hour without h2, one hour with everything; B (h2 does not reach it): the snapshot.
    expect_a = without_h2.loc["A", "blankspot_km2"] + snap.loc["A", "blankspot_km2"]
    assert hist.loc["A", "blankspot_km2h"] == pytest.approx(expect_a, rel=1e-9)
    assert hist.loc["A", "coverage_availability"] < 1.0
    assert hist.loc["B", "blankspot_km2h"] == pytest.approx(2 * snap.loc["B", "blankspot_km2"])


def test_split_map_keeps_groups_whole_and_the_order():
    group = np.repeat(np.arange(40), np.arange(40) % 7 + 1)
    for parts in (2, 3, 5):
        bounds = _group_bounds(group, parts)
        assert bounds[0][0] == 0 and bounds[-1][1] == len(group)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
        for a, _ in bounds[1:]:
            assert group[a] != group[a - 1]  # a cut never falls inside a group
    geoms = shapely.buffer(shapely.points(np.arange(2000.0), 0.0), np.arange(2000) % 9 + 1.0)
    np.testing.assert_array_equal(split_map(shapely.area, geoms), shapely.area(geoms))
    np.testing.assert_array_equal(
        split_map(shapely.area, geoms, group=np.arange(2000) // 3), shapely.area(geoms)
    )


def test_previous_period_without_snapshot_keeps_every_period_figure():
    """The report's previous month: no snapshot, the all-up area from the cache; its period
    figures are those of the full analysis."""
    import dataclasses

    from pantau.config import GeoConfig
    from pantau.geo.analysis import analyse
    from pantau.geo.sources import observations_from_records

    t0 = 1_700_000_000.0
    hour = 3600.0
    d = districts([("A", local_to_lonlat(*BPP, shapely.box(-1000, -1000, 1000, 1000))),
                   ("B", local_to_lonlat(*BPP, shapely.box(1000, -1000, 3000, 1000)))])  # fmt: skip
    s = sites(
        site("h1", *BPP, coverage_m=500, address="127.0.0.1", probes=("icmp",)),
        site("h2", BPP[0] + 0.018, BPP[1], coverage_m=500, address="127.0.0.1", probes=("icmp",)),
        site("b", BPP[0] + 0.009, BPP[1], kind="bts", address="127.0.0.1", probes=("icmp",)),
    )
    obs = observations_from_records(
        [{"site": x, "state": "up", "last_result": t0 + 19 * hour} for x in ("h1", "h2", "b")],
        [{"site": "b", "start": t0 + 2 * hour, "end": t0 + 5 * hour},
         {"site": "h2", "start": t0 + 12 * hour, "end": t0 + 13 * hour}],
        "test",
    )  # fmt: skip
    timelines = {
        "h1": ((t0, "up"),),
        "b": ((t0, "up"), (t0 + 2 * hour, "down"), (t0 + 5 * hour, "up")),
        "h2": ((t0, "up"), (t0 + 12 * hour, "down"), (t0 + 13 * hour, "up")),
    }
    obs = dataclasses.replace(obs, timelines=timelines, now=t0 + 20 * hour)
    first, second = (t0, t0 + 10 * hour), (t0 + 10 * hour, t0 + 20 * hour)

    def run(period, **kw):
        return analyse(d, s, obs, GeoConfig(), at=period[1], start=period[0], end=period[1], **kw)

    whole = run(first)
    full = whole.districts.set_index("district")
    cache: dict = {}
    run(second, cache=cache)
    assert len(cache) == 1
    lean_run = run(first, snapshot=False, cache=cache)
    lean = lean_run.districts.set_index("district")
    assert len(cache) == 1  # the same sites and districts: taken from the cache
    # The BTS covers both squares; down 3 h of 10, A keeps only h1's circle then.
    assert 0.5 < full.loc["A", "coverage_availability"] < 0.8
    period = [
        "blankspot_km2h", "mean_blankspot_ratio", "coverage_availability",
        "availability_ratio", "target_area_km2", "sites_registered", "sites_supervised",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(lean[period], full[period], rtol=1e-12)
    assert lean["covered_km2"].isna().all() and lean["blankspot_flag"].isna().all()
    assert full["covered_km2"].notna().all()
    # The one figure the report reads from the previous month: the same.
    from pantau.geo.report import report_tables
    from pantau.geo.reportdata import mean_blankspot_km2

    trend = mean_blankspot_km2(report_tables(lean_run))
    assert trend is not None
    assert trend == pytest.approx(mean_blankspot_km2(report_tables(whole)), rel=1e-12)


def test_threaded_query_gives_the_pairs_of_one_query():
    from pantau.geo.threads import query

    rng = np.random.default_rng(4)
    geoms = shapely.buffer(shapely.points(rng.uniform(0, 500, (3000, 2))), rng.uniform(1, 9, 3000))
    tree = shapely.STRtree(geoms)
    for predicate in (None, "intersects", "contains_properly"):
        np.testing.assert_array_equal(
            query(tree, geoms, predicate=predicate), tree.query(geoms, predicate=predicate)
        )
