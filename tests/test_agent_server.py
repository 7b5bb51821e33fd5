"""The agent's HTTP API and its one metrics collector, scraped for real and linted by promtool."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
import types

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pantau.agent.probes import PROBES, ProbeContext, ProbeJob, ProbeResult
from pantau.agent.runtime.eventlog import EventLog, Retention
from pantau.agent.runtime.exposition import TextCollector
from pantau.agent.runtime.metrics import AgentCollector, AgentStats, SiteFamilies
from pantau.agent.runtime.server import make_app, start_server
from pantau.agent.runtime.state import ProbeState, SiteState
from pantau.events import Event
from pantau.inventory import Site


@dataclasses.dataclass
class Source:
    """The runtime's view the collector reads, filled with real values."""

    agent_name: str = "agent-1"
    version: str = "0.1.0"
    stats: AgentStats = dataclasses.field(default_factory=AgentStats)
    sites: dict = dataclasses.field(default_factory=dict)
    states: dict = dataclasses.field(default_factory=dict)
    results: dict = dataclasses.field(default_factory=dict)
    canaries: dict = dataclasses.field(default_factory=dict)
    isolated: bool | None = None
    prober_list: list = dataclasses.field(default_factory=list)

    def probers(self):
        return self.prober_list


def filled_source():
    src = Source()
    src.sites = {
        "a": Site(
            id="a",
            name="Kantor A",
            kind="office",
            lat=-1.2,
            lon=116.8,
            address="127.0.0.1",
            probes=("icmp", "tcp:80"),
            district="64.71",
        ),
        "b": Site(
            id="b",
            name='Quote "B"',
            kind="bts",
            lat=-1.3,
            lon=116.9,
            address="127.0.0.2",
            probes=("icmp",),
            parent="a",
        ),
        "c": Site(id="c", name="C", kind="web", lat=0, lon=0),
    }
    src.states = {
        "a": SiteState("up", {"icmp": ProbeState("up"), "tcp:80": ProbeState("up")}),
        "b": SiteState("down", {"icmp": ProbeState("down")}),
        "c": SiteState(),
    }
    src.results = {
        ("a", "icmp"): ProbeResult(True, "ok", 0.002, 1.0),
        ("a", "tcp:80"): ProbeResult(True, "ok", 0.001, 1.0),
        ("b", "icmp"): ProbeResult(False, "timeout", 1.0, 1.0),
    }
    src.stats.failures[("b", "icmp", "timeout")] += 3
    src.stats.rounds["icmp"] += 4
    src.stats.rounds["tcp"] += 2
    src.stats.overruns["icmp"] += 1
    src.stats.round_duration["icmp"] = 1.25
    src.stats.lag.labels("icmp").observe(0.003)
    src.stats.events["site"] += 2
    src.canaries = {"127.0.0.1": True}
    src.isolated = False
    return src


def registry_of(src):
    """The agent's own collector and its per-site text families, read back by the parser."""
    registry = CollectorRegistry()
    registry.register(AgentCollector(src))
    site_families = SiteFamilies()
    registry.register(TextCollector(lambda: site_families(src)))
    return registry


def test_collector_values():
    reg = registry_of(filled_source())
    assert reg.get_sample_value("pantau_site_up", {"site": "a"}) == 1
    assert reg.get_sample_value("pantau_site_up", {"site": "b"}) == 0
    assert reg.get_sample_value("pantau_site_up", {"site": "c"}) is None  # unknown: absent
    assert reg.get_sample_value("pantau_probe_success", {"site": "b", "probe": "icmp"}) == 0
    assert (
        reg.get_sample_value("pantau_probe_duration_seconds", {"site": "a", "probe": "tcp:80"})
        == 0.001
    )
    assert (
        reg.get_sample_value(
            "pantau_probe_failures_total", {"site": "b", "probe": "icmp", "reason": "timeout"}
        )
        == 3
    )
    assert (
        reg.get_sample_value(
            "pantau_site_info",
            {
                "site": "b",
                "name": 'Quote "B"',
                "kind": "bts",
                "district": "",
                "parent": "a",
                "lat": "-1.3",
                "lon": "116.9",
            },
        )
        == 1
    )
    assert reg.get_sample_value("pantau_agent_sites") == 3
    assert reg.get_sample_value("pantau_agent_isolated") == 0
    assert reg.get_sample_value("pantau_canary_up", {"target": "127.0.0.1"}) == 1
    assert reg.get_sample_value("pantau_agent_info", {"agent": "agent-1", "version": "0.1.0"}) == 1
    assert reg.get_sample_value("pantau_agent_rounds_total", {"kind": "icmp"}) == 4
    assert reg.get_sample_value("pantau_agent_round_overruns_total", {"kind": "icmp"}) == 1
    assert reg.get_sample_value("pantau_agent_round_duration_seconds", {"kind": "icmp"}) == 1.25
    assert (
        reg.get_sample_value(
            "pantau_agent_scheduling_lag_seconds_bucket", {"kind": "icmp", "le": "0.005"}
        )
        == 1
    )
    assert reg.get_sample_value("pantau_agent_events_total", {"type": "site"}) == 2
    # Kinds and types that ran but never counted show a real 0, not an absent series.
    assert reg.get_sample_value("pantau_agent_round_overruns_total", {"kind": "tcp"}) == 0
    assert reg.get_sample_value("pantau_agent_probe_errors_total", {"kind": "icmp"}) == 0
    assert reg.get_sample_value("pantau_agent_events_total", {"type": "agent"}) == 0


def test_last_hop_of_a_down_site_until_it_is_forgotten():
    src = filled_source()
    src.stats.last_hops["b"] = "10.20.0.1"
    reg = registry_of(src)
    assert reg.get_sample_value("pantau_site_last_hop_info", {"site": "b", "hop": "10.20.0.1"}) == 1
    src.stats.forget_site("b")
    assert (
        registry_of(src).get_sample_value(
            "pantau_site_last_hop_info", {"site": "b", "hop": "10.20.0.1"}
        )
        is None
    )


def test_isolated_absent_until_canaries_ran_and_forget_site():
    src = filled_source()
    src.isolated = None
    src.stats.forget_site("b")
    reg = registry_of(src)
    assert reg.get_sample_value("pantau_agent_isolated") is None
    assert (
        reg.get_sample_value(
            "pantau_probe_failures_total", {"site": "b", "probe": "icmp", "reason": "timeout"}
        )
        is None
    )


@pytest.fixture
async def agent_api(tmp_path):
    """The real app on a free loopback port, with a real event log and an HTTP prober."""
    src = filled_source()
    http = PROBES["http"].make_prober(
        types.SimpleNamespace(timeout=2.0, verify_tls=True, ok_status=(200, 399), user_agent="t"),
        ProbeContext(config=None, limiter=asyncio.Semaphore(4)),
    )
    src.prober_list = [http]
    log = EventLog(tmp_path / "events.db", Retention(1e9, 1000), clock=lambda: 2000.0)
    registry = CollectorRegistry()
    registry.register(AgentCollector(src))
    site_families = SiteFamilies()
    app = make_app(registry, log, "agent-1", lambda: site_families(src))
    runner = await start_server(app, "127.0.0.1:0")
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    # Give the HTTP prober a real result: its own /healthz.
    url = f"{base}/healthz"
    await http.run([ProbeJob("a", f"http:{url}", url, None)])
    async with aiohttp.ClientSession() as session:
        yield types.SimpleNamespace(base=base, log=log, session=session)
    await http.aclose()
    await runner.cleanup()
    log.close()


async def test_metrics_scrape_parses_and_promtool_is_silent(agent_api):
    async with agent_api.session.get(f"{agent_api.base}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"pantau_site_up", "pantau_http_status_code", "pantau_agent_info"} <= names
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.decode().strip() == "" and done.stderr.decode().strip() == ""


async def test_events_api_pages(agent_api):
    stored = agent_api.log.append(
        [
            Event("agent-1", "site", f"s{i}", None, "up", "down", 1000.0 + i, "timeout")
            for i in range(3)
        ]
    )
    async with agent_api.session.get(f"{agent_api.base}/api/v1/events?after=0&limit=2") as r:
        body = await r.json()
    assert body["agent"] == "agent-1" and body["log_id"] == agent_api.log.log_id
    assert [e["cursor"] for e in body["events"]] == [1, 2]
    assert body["events"][0] == stored[0].to_json()
    assert (body["next"], body["oldest"], body["more"]) == (2, 1, True)
    async with agent_api.session.get(f"{agent_api.base}/api/v1/events?after=2") as r:
        body = await r.json()
    assert [e["cursor"] for e in body["events"]] == [3]
    assert (body["next"], body["more"]) == (3, False)
    async with agent_api.session.get(f"{agent_api.base}/api/v1/events") as r:
        assert len((await r.json())["events"]) == 3


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("after=-1", "after must be an integer from 0 to"),
        ("after=abc", "after must be an integer from 0 to"),
        ("limit=0", "limit must be an integer from 1 to 10000, got '0'"),
        ("limit=10001", "limit must be an integer from 1 to 10000"),
        ("limit=1.5", "limit must be an integer"),
        ("cursor=3", "unknown query parameter(s) cursor; use after, limit"),
    ],
    ids=["negative", "text", "zero-limit", "over-max", "float", "unknown"],
)
async def test_events_api_rejects_bad_params(agent_api, query, message):
    async with agent_api.session.get(f"{agent_api.base}/api/v1/events?{query}") as r:
        assert r.status == 400
        assert r.headers["Content-Type"].startswith("application/json")
        body = await r.json()
    assert message in body["error"]


async def test_healthz(agent_api):
    async with agent_api.session.get(f"{agent_api.base}/healthz") as r:
        assert r.status == 200
        assert (await r.json())["status"] == "ok"
