"""PostGIS computes the same blankspot areas as the in-process path (throwaway cluster)."""

from __future__ import annotations

import pytest
import shapely
from _postgres import new_database, postgres_server  # noqa: F401  (fixture)
from geo_layouts import districts, local_to_lonlat, site, sites

from pantau.geo.coverage import blankspots, site_radius

psycopg = pytest.importorskip("psycopg")

PLACES = {"balikpapan-50S": (116.85, -1.25), "equator-zone-border": (120.0, 0.0)}


def layout(lon: float, lat: float):
    def square(half: float, dx: float = 0.0) -> shapely.Geometry:
        return local_to_lonlat(lon, lat, shapely.box(dx - half, -half, dx + half, half))

    d = districts([("A", square(2000)), ("B", square(2000, dx=4000)), ("C", square(2000, -4000))])
    m = 1 / 111_320  # degrees per metre, near enough to place sites
    rows = [
        site("bts", lon + 1800 * m, lat, kind="bts"),  # 3 km: crosses A and B
        site("h1", lon - 500 * m, lat + 300 * m),  # 100 m hotspot inside the BTS circle
        site("h2", lon - 1500 * m, lat - 1500 * m, coverage_m=800),  # overlaps h3
        site("h3", lon - 1000 * m, lat - 1200 * m, coverage_m=600),
        site("v", lon + 5000 * m, lat + 1000 * m, kind="vsat"),
        site("down", lon - 4000 * m, lat, coverage_m=1500),  # not working
    ]
    s = sites(*rows)
    s["district"] = None
    s["working"] = s["site"] != "down"
    s["radius_m"] = site_radius(s, {"hotspot": 100.0, "bts": 3000.0, "vsat": 300.0})
    return d, s


@pytest.mark.parametrize("place", PLACES.values(), ids=PLACES.keys())
def test_postgis_areas_match_the_in_process_computation(postgres_server, place) -> None:  # noqa: F811
    from pantau.geo.postgis import blankspot_areas, load

    d, s = layout(*place)
    ours = blankspots(d, s, threshold=0.5).districts.set_index("district")
    with psycopg.connect(new_database(postgres_server)) as conn:
        load(conn, d, s)
        theirs = blankspot_areas(conn).set_index("district")
    assert list(theirs.index) == ["A", "B", "C"]
    assert ours.loc["A", "covered_km2"] > 5 and ours.loc["B", "covered_km2"] > 1
    for name in "ABC":
        target = ours.loc[name, "target_area_km2"]
        assert theirs.loc[name, "target_area_km2"] == pytest.approx(target, rel=1e-4)
        diff = abs(theirs.loc[name, "covered_km2"] - ours.loc[name, "covered_km2"])
        assert diff <= 1e-3 * target, (name, diff)
