"""One district per site: computed from coordinates once, used by the collector's labels and API."""

from __future__ import annotations

import pytest

pytest.importorskip("geopandas", reason="the geo extra (pantau[geo]) is not installed")

from prometheus_client import CollectorRegistry

from pantau.config import CollectorConfig, Config, GeoConfig
from pantau.inventory import Site


def _layer(tmp_path):
    """d1 holds core (-1.2, 116.8) and office (-1.3, 116.8); d2 holds bts (-1.2, 116.9)."""
    from geo_layouts import two_boxes_layer

    return two_boxes_layer(tmp_path)


SITES = (
    Site(id="empty", name="Kantor A", kind="office", lat=-1.2, lon=116.8),
    Site(id="wrong", name="Kantor B", kind="office", lat=-1.2, lon=116.9, district="d1"),
    Site(id="far", name="VSAT", kind="vsat", lat=-3.0, lon=119.0, district="d9"),
)


def test_district_from_coordinates_fills_gaps_and_reports_contradictions(tmp_path):
    from pantau.collector.cli import site_districts

    config = Config(geo=GeoConfig(districts=_layer(tmp_path)))
    found = site_districts(config, SITES)
    got = {s.id: s.district for s in found.sites}
    # Empty: from the coordinates. Contradicted: the geometry wins (as on the maps), reported.
    # Outside every district: the declared one stays, reported.
    assert got == {"empty": "d1", "wrong": "d2", "far": "d9"}
    assert found.names == {"d1": "Satu", "d2": "Dua"}
    assert len(found.problems) == 2
    assert "declared district 'd1' but it lies in 'd2'" in found.problems[0]
    assert "outside every district" in found.problems[1]


def test_without_a_layer_the_inventory_column_stands():
    from pantau.collector.cli import site_districts

    found = site_districts(Config(), SITES)
    assert [s.district for s in found.sites] == [None, "d1", "d9"] and found.names == {}


async def test_collector_labels_and_maintenance_use_the_computed_district(tmp_path):
    from pantau.collector.availability import Maintenance
    from pantau.collector.cli import site_districts
    from pantau.collector.metrics import CollectorMetrics
    from pantau.collector.service import Collector
    from pantau.collector.store import open_store

    config = Config(geo=GeoConfig(districts=_layer(tmp_path)))
    found = site_districts(config, SITES)
    store = open_store(f"sqlite:///{tmp_path}/c.db")
    try:
        collector = Collector(CollectorConfig(agents=()), found.sites, store, names=found.names)
        collector.maintenance = [Maintenance(0, 4e9, district="d2")]
        registry = CollectorRegistry()
        registry.register(CollectorMetrics(collector, clock=lambda: 1e9))
        v = registry.get_sample_value
        info = {"name": "Kantor A", "kind": "office", "parent": ""}
        assert v("pantau_collector_site_info", {"site": "empty", **info, "district": "d1",
                                                 "district_name": "Satu"}) == 1  # fmt: skip
        assert v("pantau_maintenance_active", {"site": "wrong", "district": "d2"}) == 1
        assert v("pantau_maintenance_active", {"site": "empty", "district": "d1"}) == 0
    finally:
        store.close()
