"""The collector's HTTP API and metrics, over real agent event APIs, scraped for real."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources

import aiohttp
import pytest
from _collector_env import SITES, agent_api
from prometheus_client import CollectorRegistry

from pantau.agent.runtime.server import bound_port, start_server
from pantau.collector.api import ApiContext, make_app
from pantau.collector.metrics import CollectorMetrics
from pantau.collector.service import Collector
from pantau.collector.store import open_store
from pantau.config import CollectorConfig
from pantau.events import format_time

T0 = 1_900_000_000.0
NOW = T0 + 1000


async def pulled(config, store):
    """A collector over ``store`` that pulled its agents once, and its metrics registry."""
    collector = Collector(config, SITES, store, clock=lambda: NOW)
    await collector.start()
    async with aiohttp.ClientSession() as s:
        await collector.round(s)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(CollectorMetrics(collector))
    return collector, registry


@pytest.fixture
async def running(tmp_path):
    """Two agents watching the sites, a collector that pulled them, its API on a free port."""
    store = open_store(f"sqlite:///{tmp_path}/c.db")
    async with agent_api(tmp_path / "a1.db", "a1") as a1, agent_api(tmp_path / "a2.db", "a2") as a2:
        for a in (a1, a2):
            for site in ("core", "office", "bts"):
                a.emit(site, "unknown", "up", T0)
        # core down for both agents, the office behind it too; bts down for a1 only
        for a in (a1, a2):
            a.emit("core", "up", "down", T0 + 100, hop="10.0.0.254")
            a.emit("office", "up", "down", T0 + 105)
        a1.emit("bts", "up", "down", T0 + 200)
        collector, registry = await pulled(CollectorConfig(agents=(a1.url, a2.url)), store)
        extra = []

        def ext(app, ctx: ApiContext):
            async def geojson(_request):
                n = len(ctx.collector.sites)
                return aiohttp.web.json_response({"type": "FeatureCollection", "n": n})

            extra.append(ctx)
            app.router.add_get("/api/v1/districts.geojson", geojson)

        runner = await start_server(make_app(collector, registry, [ext]), "127.0.0.1:0")
        base = f"http://127.0.0.1:{bound_port(runner)}"
        async with aiohttp.ClientSession(base) as http:
            yield http, collector, registry, extra
        await runner.cleanup()
    store.close()


async def get(http, path, status=200, **params):
    async with http.get(path, params=params) as r:
        assert r.status == status, await r.text()
        return await r.json()


async def test_sites_show_decided_state_and_cause(running):
    http, *_ = running
    sites = {s["id"]: s for s in (await get(http, "/api/v1/sites"))["sites"]}
    assert sites["core"]["state"] == "down" and sites["core"]["outage"]["hop"] == "10.0.0.254"
    assert sites["office"]["state"] == "unreachable"
    assert sites["office"]["outage"]["cause"] == "unreachable"
    assert sites["bts"]["state"] == "up"  # one agent of two: not more than the quorum
    assert sites["core"]["since"] == format_time(T0 + 100)


async def test_outages_filters(running):
    http, *_ = running
    all_ = (await get(http, "/api/v1/outages"))["outages"]
    assert [(o["site"], o["cause"], o["open"]) for o in all_] == [
        ("office", "unreachable", True),
        ("core", "down", True),
    ]
    assert all_[1]["agents"] == ["a1", "a2"] and all_[1]["duration_seconds"] == 900
    assert (await get(http, "/api/v1/outages", site="core"))["outages"][0]["site"] == "core"
    assert (await get(http, "/api/v1/outages", open="false"))["outages"] == []
    assert (await get(http, "/api/v1/outages", district="d2"))["outages"] == []
    assert (
        len((await get(http, "/api/v1/outages", **{"to": format_time(T0 + 102)}))["outages"]) == 1
    )
    err = await get(http, "/api/v1/outages", 400, open="maybe")
    assert "open must be true or false" in err["error"]
    err = await get(http, "/api/v1/outages", 400, since="x")
    assert "unknown query parameter(s) since" in err["error"]
    err = await get(http, "/api/v1/outages", 400, **{"from": "yesterday"})
    assert "from must be an RFC 3339 time" in err["error"]


async def test_availability_and_maintenance(running):
    http, *_ = running
    period = {"from": format_time(T0), "to": format_time(T0 + 1000)}
    a = await get(http, "/api/v1/availability", **period)
    assert a["sites"]["core"]["ratio"] == pytest.approx(0.1)
    assert a["districts"]["d1"]["down_seconds"] == pytest.approx(900 + 895)
    body = {
        "start": format_time(T0 + 100),
        "end": format_time(T0 + 1000),
        "district": "d1",
        "reason": "ganti kabel",
    }
    async with http.post("/api/v1/maintenance", json=body) as r:
        assert r.status == 201
        made = await r.json()
    assert made["id"] and made["district"] == "d1"
    a = await get(http, "/api/v1/availability", **period)
    assert a["sites"]["core"]["ratio"] == 1.0 and a["districts"]["d1"]["down_seconds"] == 0
    listed = (await get(http, "/api/v1/maintenance"))["maintenance"]
    assert [w["reason"] for w in listed] == ["ganti kabel"]
    for bad, message in [
        ({"start": "x", "end": "y"}, "RFC 3339"),
        ({**body, "site": "nowhere"}, "site 'nowhere' is not in the inventory"),
        ({**body, "end": body["start"]}, "end must be after start"),
        ({**body, "color": "red"}, "unknown field(s) color"),
    ]:
        async with http.post("/api/v1/maintenance", json=bad) as r:
            assert r.status == 400 and message in (await r.json())["error"]


async def test_timelines_give_the_inputs_of_the_api_figures(running):
    from pantau.collector.availability import SiteKey, figures

    http, *_ = running
    period = {"from": repr(T0 + 50), "to": repr(T0 + 1000)}
    t = await get(http, "/api/v1/timelines", **period)
    a = await get(http, "/api/v1/availability", **period)
    assert t["from"] == T0 + 50 and t["sites"]["core"]["timeline"][0][0] == T0 + 50
    timelines = {s: tuple(map(tuple, v["timeline"])) for s, v in t["sites"].items()}
    windows = {s: [tuple(w) for w in v["maintenance"]] for s, v in t["sites"].items()}
    keys = [SiteKey(s, v["district"]) for s, v in t["sites"].items()]
    parents = {s: v["parent"] for s, v in t["sites"].items()}
    stop = min(t["to"], t["now"])
    sites, districts = figures(timelines, keys, t["from"], stop, windows, parents)
    for site, avail in sites.items():
        assert avail.down_seconds == a["sites"][site]["down_seconds"]
        assert avail.ratio == a["sites"][site]["ratio"]
    assert districts["d1"].ratio == a["districts"]["d1"]["ratio"]
    err = await get(http, "/api/v1/timelines", 400, **{"from": "soon"})
    assert "from must be an RFC 3339 time" in err["error"]


async def test_metrics_follow_the_contract(running):
    http, _, registry, _ = running
    v = registry.get_sample_value
    assert v("pantau_outages_open", {"cause": "down"}) == 1
    assert v("pantau_outages_open", {"cause": "unreachable"}) == 1
    assert v("pantau_outages_open", {"cause": "unknown"}) == 0
    assert (
        v(
            "pantau_site_outage_open",
            {
                "site": "office",
                "name": "Kantor",
                "kind": "office",
                "district": "d1",
                "district_name": "",
                "cause": "unreachable",
                "parent": "core",
            },
        )
        == 1
    )
    core = {"site": "core", "name": "Router inti", "kind": "router", "district": "d1"}
    assert (
        v("pantau_site_outage_open", {**core, "district_name": "", "cause": "down", "parent": ""})
        == 1
    )
    assert v("pantau_maintenance_active", {"site": "core", "district": "d1"}) == 0
    assert v("pantau_collector_site_info", {**core, "district_name": "", "parent": ""}) == 1
    assert v("pantau_collector_site_up", {"site": "core"}) == 0
    assert v("pantau_collector_site_up", {"site": "bts"}) == 1
    assert v("pantau_district_sites", {"district": "d1"}) == 2
    assert v("pantau_district_sites_up", {"district": "d1"}) == 0
    assert v("pantau_district_availability_ratio", {"district": "d2"}) == 1.0
    assert v("pantau_collector_agent_up", {"agent": "a1"}) == 1
    assert v("pantau_collector_agent_isolated", {"agent": "a1"}) == 0
    assert v("pantau_collector_events_ingested_total", {"agent": "a1"}) == 6
    assert v("pantau_collector_pull_lag_seconds", {"agent": "a2"}) == 0
    async with http.get("/metrics") as r:
        text = await r.text()
    if shutil.which("promtool"):
        res = subprocess.run(
            ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
        )
        assert res.returncode == 0, res.stdout + res.stderr


async def test_openapi_documents_every_route_and_extensions_plug_in(running):
    http, collector, _, extra = running
    doc = await get(http, "/api/v1/openapi.json")
    assert doc["openapi"].startswith("3.")
    shipped = json.loads(resources.files("pantau.collector").joinpath("openapi.json").read_text())
    assert doc == shipped
    app_routes = {
        "/api/v1/outages",
        "/api/v1/sites",
        "/api/v1/availability",
        "/api/v1/timelines",
        "/api/v1/maintenance",
        "/api/v1/agents",
        "/api/v1/openapi.json",
        "/healthz",
        "/metrics",
    }
    assert set(doc["paths"]) == app_routes
    geo = await get(http, "/api/v1/districts.geojson")
    assert geo["n"] == 3 and extra[0].collector is collector
    assert (await get(http, "/healthz"))["status"] == "ok"
    agents = (await get(http, "/api/v1/agents"))["agents"]
    assert [(a["agent"], a["up"], a["ingested"]) for a in agents] == [
        ("a1", True, 6),
        ("a2", True, 5),
    ]


async def test_config_maintenance_and_an_isolated_agent(tmp_path):
    from datetime import UTC, datetime

    from pantau.config import MaintenanceWindow

    store = open_store(f"sqlite:///{tmp_path}/c.db")
    async with agent_api(tmp_path / "a1.db", "a1") as a1, agent_api(tmp_path / "a2.db", "a2") as a2:
        for a in (a1, a2):
            a.emit("bts", "unknown", "up", T0)
        a2.emit(None, "connected", "isolated", T0 + 50, isolated=True)
        a2.emit("bts", "up", "down", T0 + 60, isolated=True)  # its uplink, not the BTS
        a1.emit("bts", "up", "down", T0 + 100)  # a1 alone sees it now: a2 does not vote
        window = MaintenanceWindow(
            start=datetime.fromtimestamp(T0 + 100, UTC),
            end=datetime.fromtimestamp(T0 + 400, UTC),
            site="bts",
            reason="ganti antena",
        )
        config = CollectorConfig(agents=(a1.url, a2.url), maintenance=(window,))
        collector, registry = await pulled(config, store)
        assert registry.get_sample_value("pantau_collector_agent_isolated", {"agent": "a2"}) == 1
        assert registry.get_sample_value("pantau_collector_agent_isolated", {"agent": "a1"}) == 0
        (o,) = store.outages(site="bts")
        assert (o.start, o.agents) == (T0 + 100, ("a1",))
        assert [w.reason for w in collector.maintenance] == ["ganti antena"]
        # down 100..1000, of which 100..400 is maintenance: 600 s down, 100 s up
        assert registry.get_sample_value(
            "pantau_district_availability_ratio", {"district": "d2"}
        ) == pytest.approx(100 / 700)
    store.close()
