"""Geo inside the collector: the per-district gauges over the latest analysis."""

from __future__ import annotations

import json
import types

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from pantau.geo.collector_ext import DistrictMetrics


def test_gauges_follow_the_latest_analysis_and_never_fake_zero():
    view = types.SimpleNamespace(latest=None)  # DistrictView's one attribute the metrics read
    registry = CollectorRegistry()
    registry.register(DistrictMetrics(view))
    assert registry.get_sample_value("pantau_district_blankspot_ratio", {"district": "A"}) is None
    view.latest = types.SimpleNamespace(
        districts=pd.DataFrame(
            {
                "district": ["A", "B"],
                "blankspot_ratio": [0.25, 1.0],
                "supervision_coverage_ratio": [0.5, np.nan],  # B has no registered site
            }
        )
    )
    get = registry.get_sample_value
    assert get("pantau_district_blankspot_ratio", {"district": "A"}) == 0.25
    assert get("pantau_district_blankspot_ratio", {"district": "B"}) == 1.0
    assert get("pantau_district_supervision_coverage_ratio", {"district": "A"}) == 0.5
    assert get("pantau_district_supervision_coverage_ratio", {"district": "B"}) is None


# --- inside a real collector, pulling real agent event APIs on loopback -------------------------

T0 = 1_900_000_000.0
NOW = T0 + 1000


def _layer(tmp_path):
    """d1 holds core (-1.2, 116.8) and office (-1.3, 116.8); d2 holds bts (-1.2, 116.9)."""
    from geo_layouts import two_boxes_layer

    return two_boxes_layer(tmp_path)


def _sites():
    from pantau.inventory import Site

    watched = {"address": "127.0.0.1", "probes": ("icmp",)}
    return (
        Site(id="core", name="Router inti", kind="router", lat=-1.2, lon=116.8, **watched),
        Site(id="office", name="Kantor", kind="office", lat=-1.3, lon=116.8, parent="core",
             **watched),
        Site(id="bts", name="BTS Manggar", kind="bts", lat=-1.2, lon=116.9, **watched),
    )  # fmt: skip


@pytest.fixture
async def collector_app(tmp_path):
    import aiohttp
    from _collector_env import agent_api

    from pantau.agent.runtime.server import bound_port, start_server
    from pantau.collector.api import installed_extensions, make_app
    from pantau.collector.service import Collector
    from pantau.collector.store import open_store
    from pantau.config import CollectorConfig, Config, GeoConfig

    store = open_store(f"sqlite:///{tmp_path}/c.db")
    async with agent_api(tmp_path / "a1.db", "a1") as a1:
        for site in ("core", "office", "bts"):
            a1.emit(site, "unknown", "up", T0)
        a1.emit("bts", "up", "down", T0 + 400)  # bts down for the last 600 s of the day
        collector_config = CollectorConfig(agents=(a1.url,))
        config = Config(collector=collector_config, geo=GeoConfig(districts=_layer(tmp_path)))
        collector = Collector(collector_config, _sites(), store, clock=lambda: NOW)
        await collector.start()
        async with aiohttp.ClientSession() as s:
            await collector.round(s)
        registry = CollectorRegistry(auto_describe=True)
        app = make_app(collector, registry, installed_extensions(), config=config)
        runner = await start_server(app, "127.0.0.1:0")
        base = f"http://127.0.0.1:{bound_port(runner)}"
        try:
            yield base, registry
        finally:
            await runner.cleanup()
    store.close()


async def test_collector_serves_districts_geojson_and_gauges(collector_app):
    import asyncio

    import aiohttp

    from pantau.geo.sources import CollectorSource

    base, registry = collector_app
    async with aiohttp.ClientSession(base) as http:
        for _ in range(100):  # the first analysis runs in a thread right after start-up
            async with http.get("/api/v1/districts.geojson") as r:
                if r.status == 200:
                    data = json.loads(await r.text())
                    break
                assert r.status == 503 and "not ready" in (await r.json())["error"]
            await asyncio.sleep(0.1)
        else:
            pytest.fail("no district analysis within 10 s")
    props = {f["id"]: f["properties"] for f in data["features"]}
    assert set(props) == {"d1", "d2"}
    assert props["d2"]["sites_working"] == 0 and props["d2"]["blankspot_flag"] is True
    assert props["d1"]["sites_working"] == 2
    # The period is the last day, but bts was observed only from T0 (up 400 s, then down 600 s):
    # the unobserved rest of the day is no data, never up time.
    assert props["d2"]["availability_ratio"] == pytest.approx(0.4)
    assert props["d2"]["data_ratio"] == pytest.approx(1000 / 86400)
    assert props["d1"]["availability_ratio"] == 1.0
    get = registry.get_sample_value
    assert get("pantau_district_blankspot_ratio", {"district": "d2"}) == 1.0
    assert 0 < get("pantau_district_blankspot_ratio", {"district": "d1"}) < 1
    assert get("pantau_district_supervision_coverage_ratio", {"district": "d1"}) == 1.0
    # geo's HTTP source reads the same collector: the state of bts is down there too.
    obs = await asyncio.to_thread(CollectorSource(base, timeout=5).observations, T0, NOW)
    states = obs.states.set_index("site")
    assert states.loc["bts", "state"] == "down" and states.loc["core", "state"] == "up"
    assert states.loc["core", "last_result"] > 0
    assert obs.outages["site"].tolist() == ["bts"]


async def test_collector_without_district_layer_says_how_to_get_one(tmp_path):
    import aiohttp

    from pantau.agent.runtime.server import bound_port, start_server
    from pantau.collector.api import installed_extensions, make_app
    from pantau.collector.service import Collector
    from pantau.collector.store import open_store
    from pantau.config import CollectorConfig

    store = open_store(f"sqlite:///{tmp_path}/c.db")
    collector = Collector(CollectorConfig(agents=()), _sites(), store, clock=lambda: NOW)
    app = make_app(collector, CollectorRegistry(), installed_extensions())
    runner = await start_server(app, "127.0.0.1:0")
    try:
        url = f"http://127.0.0.1:{bound_port(runner)}/api/v1/districts.geojson"
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            assert r.status == 404 and "set [geo] districts" in (await r.json())["error"]
    finally:
        await runner.cleanup()
        store.close()


def test_pantau_collector_process_serves_the_example_districts(tmp_path):
    """`pantau collector` as a process with the example config: geo is wired in through the CLI."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "c.toml"
    config.write_text(
        f'[collector]\nlisten = "127.0.0.1:{port}"\ndatabase = "sqlite:///{tmp_path}/c.db"\n'
        'agents = ["http://127.0.0.1:9"]\n'  # nothing listens: the agent is reported down
        f'[geo]\ndistricts = "{root}/examples/districts.geojson"\nrefresh = 1\n'
        f'[inventory]\nsites = ["{root}/examples/sites.csv"]\n'
    )
    log = open(tmp_path / "collector.log", "wb")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pantau.cli", "collector", "--config", str(config)],
        stdout=log, stderr=log, cwd=tmp_path,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, data = time.monotonic() + 60, None
        while data is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/districts.geojson", timeout=2) as r:
                    data = json.loads(r.read())
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        assert data is not None, (tmp_path / "collector.log").read_text()[-3000:]
        assert len(data["features"]) == 12
        assert all(f["id"].startswith("00.01.01.") for f in data["features"])
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        # No site state is known (its agent is down): every district is blank, none supervised.
        assert 'pantau_district_blankspot_ratio{district="00.01.01.1001"} 1.0' in metrics
        assert 'pantau_district_supervision_coverage_ratio{district="00.01.01.1002"} 0.0' in metrics
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
