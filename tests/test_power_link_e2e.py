"""End to end: a UPS at its own address explains its tower's outage (issue 16, inventory ``ups``).

Real processes and peers: snmpsim serving two real UPS recordings at their own loopback address
127.0.0.2 (a CET Power inverter recorded on battery, a CyberPower UPS on mains; tests/upspair.py),
polled as sites ``ups-1`` and ``ups-2``; two routers ``rtr-1`` (``ups = "ups-1"``) and ``rtr-2``
(``ups = "ups-2"``) pinged in network namespaces this test creates (pantau.lab.netns, reached
from the root namespace through ``core``); the pantau agent and the pantau collector.
Both routers' links are cut (the namespaces' uplinks go down); the UPS sites keep answering.
The collector's outage of ``rtr-1`` says ``power`` (its UPS site on battery) and that of
``rtr-2`` says ``down`` (its UPS site on mains), in /api/v1/outages and in its /metrics; the
agent exports each link as ``pantau_site_power_source``. Through Prometheus with the shipped rules
the routers' pages say "listrik padam (UPS memakai baterai)" and "link putus"; every case of the
alert text (UPS silent too) is tested with promtool (dashboards/prometheus/tests/
pantau-alerts-snmp-health.test.yml).
"""

from __future__ import annotations

import contextlib
import dataclasses
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import upspair
from livestack import (
    fast_rules,
    have,
    http_json_text,
    pantau_process,
    prometheus,
    prometheus_config,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families
from promstack import PROMETHEUS_BIN, free_port, http_json
from snmp_peers import Snmpsim, free_udp_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(not have("collector.cli"), reason="pantau collector not in this build"),
    pytest.mark.skipif(not have("lab.netns"), reason="pantau.lab.netns not in this build yet"),
]
#: The UPS cards' own address (loopback: snmpsim binds it).
UPS_ADDRESS = "127.0.0.2"
#: upspair's agent (SNMP every 2 s) with ICMP for the routers, and the collector.
AGENT = (
    upspair.AGENT
    + """
[agent.icmp]
interval = 1
timeout = 0.5
count = 3

[collector]
listen = "127.0.0.1:{collector_port}"
database = "sqlite:///{tmp}/collector.db"
agents = ["http://127.0.0.1:{agent_port}"]
pull_interval = 1
"""
)
SITE = """
[[sites]]
id = "{id}"
name = "{name}"
kind = "{kind}"
lat = -1.2379
lon = 116.8529
address = "{address}"
probes = ["{probe}"]
district = "64.71.04"
{ups}
"""


def _config(path: Path, tower: Callable[[str], str], **ports: Any) -> None:
    profiles = (upspair.PROFILE.format(profile=p, upper=p.upper()) for p in upspair.RECORDINGS)
    text = AGENT + "".join(profiles)
    for n, profile in (("1", "battery"), ("2", "mains")):
        text += SITE.format(
            id=f"ups-{n}", name=f"UPS Menara {n}", kind="bts", address=UPS_ADDRESS,
            probe=f"snmp:{profile}", ups="",
        )  # fmt: skip
        text += SITE.format(
            id=f"rtr-{n}", name=f"Router Menara {n}", kind="router", address=tower(f"tower{n}"),
            probe="icmp", ups=f'ups = "ups-{n}"',
        )  # fmt: skip
    path.write_text(text.format(**ports))


def _get(url: str) -> Any:
    """The JSON at ``url``; None while the collector is not ready (503)."""
    try:
        return http_json(url)
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return None
        raise


def _states(collector_url: str) -> dict[str, str]:
    got = _get(f"{collector_url}/api/v1/sites")
    return {s["id"]: s["state"] for s in got["sites"]} if got else {}


def _open_outages(collector_url: str) -> dict[str, str]:
    got = _get(f"{collector_url}/api/v1/outages")
    return {o["site"]: o["cause"] for o in got["outages"] if o["open"]} if got else {}


def _samples(url: str, name: str) -> list[dict[str, str]]:
    text = http_json_text(f"{url}/metrics")
    return [
        {**s.labels, "value": str(s.value)}
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name
    ]


@dataclasses.dataclass
class Stack:
    lab: Any
    agent: str
    collector: str


@contextlib.contextmanager
def _stack(
    lab_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """The lab, snmpsim at the UPS address, the agent and the collector; every site up."""
    lab = lab_factory(tree={"core": None, "tower1": "core", "tower2": "core"})
    lab.attach_root("core")
    for profile, recording in upspair.RECORDINGS.items():
        monkeypatch.setenv(f"PANTAU_TEST_COMMUNITY_{profile.upper()}", recording)
    sim = Snmpsim(
        free_udp_port(),
        {name: upspair.LIBRENMS / f"{name}.snmprec" for name in upspair.RECORDINGS.values()},
        host=UPS_ADDRESS,
    )
    agent_port, collector_port = free_port(), free_port()
    config = tmp_path / "pantau.toml"
    _config(
        config, lab.address,
        agent_port=agent_port, collector_port=collector_port, tmp=tmp_path, snmp_port=sim.port,
    )  # fmt: skip
    stack = Stack(lab, f"http://127.0.0.1:{agent_port}", f"http://127.0.0.1:{collector_port}")
    sim.start()
    try:
        with (
            pantau_process("agent", config, tmp_path, stack.agent),
            pantau_process("collector", config, tmp_path, stack.collector),
        ):
            everything_up = {s: "up" for s in ("ups-1", "ups-2", "rtr-1", "rtr-2")}
            upspair.until("every site up", lambda: _states(stack.collector) == everything_up)
            yield stack
    finally:
        sim.stop()


def test_a_ups_at_its_own_address_explains_its_towers_outage(
    lab_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _stack(lab_factory, tmp_path, monkeypatch) as stack:
        events = http_json(f"{stack.agent}/api/v1/events?after=0&limit=1000")["events"]
        evidence = {
            e["site"]: e["reason"] for e in events if e["reason"] in ("on_battery", "on_mains")
        }
        assert evidence == {"ups-1": "on_battery", "ups-2": "on_mains"}
        links = _samples(stack.agent, "pantau_site_power_source")
        assert sorted((s["site"], s["ups_site"], s["value"]) for s in links) == [
            ("rtr-1", "ups-1", "1.0"),
            ("rtr-2", "ups-2", "1.0"),
        ]
        stack.lab.cut("tower1")
        stack.lab.cut("tower2")
        upspair.until("both routers' outages", lambda: len(_open_outages(stack.collector)) == 2)
        # the UPS sites still answer: only the routers are out
        assert _open_outages(stack.collector) == {"rtr-1": "power", "rtr-2": "down"}
        sites = _get(f"{stack.collector}/api/v1/sites")
        assert sites is not None
        links = {s["id"]: s["ups"] for s in sites["sites"]}
        assert links == {"ups-1": None, "ups-2": None, "rtr-1": "ups-1", "rtr-2": "ups-2"}
        per_site = upspair.until(
            "pantau_site_outage_open of both routers",
            lambda: len(s := _samples(stack.collector, "pantau_site_outage_open")) == 2 and s,
        )
        assert sorted((s["site"], s["cause"]) for s in per_site) == [
            ("rtr-1", "power"),
            ("rtr-2", "down"),
        ]


def _alerts(prom: Any) -> dict[str, dict[str, str]]:
    out = {}
    for alert in http_json(f"{prom.url}/api/v1/alerts")["data"]["alerts"]:
        if alert["state"] == "firing" and alert["labels"]["alertname"] == "PantauSiteDown":
            out[alert["labels"]["site"]] = {**alert["annotations"], **alert["labels"]}
    return out


@pytest.mark.skipif(PROMETHEUS_BIN is None, reason="prometheus not installed (Debian package)")
def test_the_page_of_a_tower_with_a_linked_ups_says_power_or_link(
    lab_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same cut through Prometheus with the shipped rules: the routers' alerts (from the
    collector's decision) say "listrik padam" for the router on the battery UPS and "link
    putus" for the one on the mains UPS; the recording rule gives each router its UPS's word."""
    with _stack(lab_factory, tmp_path, monkeypatch) as stack:
        prom_config = prometheus_config(
            tmp_path / "prometheus.yml",
            fast_rules(tmp_path),
            agents=[stack.agent.removeprefix("http://")],
            collectors=[stack.collector.removeprefix("http://")],
        )
        with prometheus(tmp_path, prom_config) as prom:
            assert wait_for(prom, "count(site:pantau_ups_on_battery:last15m) == 4", 60)
            words = {
                s["metric"]["site"]: s["value"][1]
                for s in wait_for(prom, "site:pantau_ups_on_battery:last15m", 5)
            }
            assert words == {"ups-1": "1", "ups-2": "0", "rtr-1": "1", "rtr-2": "0"}
            stack.lab.cut("tower1")
            stack.lab.cut("tower2")
            alerts = upspair.until("both routers paged", lambda: len(a := _alerts(prom)) == 2 and a)
            assert {site: (a["cause"], a["power"]) for site, a in alerts.items()} == {
                "rtr-1": ("power", "listrik padam (UPS memakai baterai)"),
                "rtr-2": ("down", "link putus"),
            }
