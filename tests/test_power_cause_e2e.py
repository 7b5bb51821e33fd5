"""End to end: a tower's power cut is the outage's cause in the collector's record (issue 16).

Real processes: snmpsim serving two real UPS recordings (a CET Power inverter recorded on battery,
a CyberPower UPS on mains; tests/data/snmp/third_party/librenms), the pantau agent polling them as
two sites (no parent), and the pantau collector pulling the agent. The agent records each UPS's
reading as evidence (``on_battery`` / ``on_mains``); then both sites go silent (snmpsim stops:
the link, or the power, is gone) and the collector's outage says ``power`` for the site on
battery and ``down`` for the one on mains, in /api/v1/outages and in
``pantau_outages_open{cause}``. The alert text of the same cut is tests/test_power_cut_e2e.py.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import upspair
from livestack import have, http_json_text, pantau_process
from prometheus_client.parser import text_string_to_metric_families
from promstack import free_port, http_json

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(not have("collector.cli"), reason="pantau collector not in this build"),
]
COLLECTOR = """
[collector]
listen = "127.0.0.1:{collector_port}"
database = "sqlite:///{tmp}/collector.db"
agents = ["http://127.0.0.1:{agent_port}"]
pull_interval = 1
"""
CONFIG = upspair.config(COLLECTOR)


def _evidence(agent_url: str) -> dict[str, str]:
    events = http_json(f"{agent_url}/api/v1/events?after=0&limit=1000")["events"]
    return {e["site"]: e["reason"] for e in events if e["reason"] in ("on_battery", "on_mains")}


def _open_outages(collector_url: str) -> dict[str, str] | None:
    """Open outages by site and cause; None while the collector is not ready (503)."""
    try:
        listed = http_json(f"{collector_url}/api/v1/outages")["outages"]
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return None
        raise
    return {o["site"]: o["cause"] for o in listed if o["open"]}


def _open_by_cause(collector_url: str) -> dict[str, float]:
    text = http_json_text(f"{collector_url}/metrics")
    return {
        s.labels["cause"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "pantau_outages_open"
        for s in f.samples
    }


def test_outage_cause_is_power_on_battery_and_down_on_mains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = upspair.snmpsim(monkeypatch)
    agent_port, collector_port = free_port(), free_port()
    config = tmp_path / "pantau.toml"
    config.write_text(
        CONFIG.format(
            agent_port=agent_port, collector_port=collector_port, tmp=tmp_path, snmp_port=sim.port
        )
    )
    agent_url = f"http://127.0.0.1:{agent_port}"
    collector_url = f"http://127.0.0.1:{collector_port}"
    sim.start()
    try:
        with (
            pantau_process("agent", config, tmp_path, agent_url),
            pantau_process("collector", config, tmp_path, collector_url),
        ):
            # the agent's evidence: one UPS on battery, the other on mains
            evidence = upspair.until("both UPS readings", lambda: len(_evidence(agent_url)) == 2)
            assert _evidence(agent_url) == {"bts-a": "on_battery", "bts-b": "on_mains"}, evidence
            assert upspair.until("the collector ready", lambda: _open_outages(collector_url) == {})
            sim.stop()  # both sites go silent
            upspair.until("both outages", lambda: len(_open_outages(collector_url) or ()) == 2)
            assert _open_outages(collector_url) == {"bts-a": "power", "bts-b": "down"}
            by_cause = upspair.until(
                "pantau_outages_open{cause=power}",
                lambda: (m := _open_by_cause(collector_url)).get("power") == 1 and m,
            )
            assert by_cause == {"down": 1.0, "unreachable": 0.0, "power": 1.0, "unknown": 0.0}
    finally:
        sim.stop()
