"""End to end: a tower's power cut is told from a link cut in the alert text (issue 16).

Real processes: snmpsim serving two real UPS recordings (a CET Power inverter that was recorded on
battery, a CyberPower UPS on mains; tests/data/snmp/third_party/librenms), the pantau agent
polling them as two sites, Prometheus (Debian) with the shipped rules, ``for:`` cut to seconds.
Both sites then go silent (snmpsim stops: the link, or the power, is gone) and PantauSiteDown
names the cause from each UPS's last word: "listrik padam (UPS memakai baterai)" for the one on
battery, "link putus" for the one on mains.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import upspair
from livestack import fast_rules, have, pantau_process, prometheus, prometheus_config, wait_for
from promstack import PROMETHEUS_BIN, free_port, http_json

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(PROMETHEUS_BIN is None, reason="prometheus not installed (Debian package)"),
    pytest.mark.skipif(not have("agent.runtime"), reason="pantau agent not in this build yet"),
]
CONFIG = upspair.config()


def _alerts(prom) -> dict[str, dict]:
    out = {}
    for alert in http_json(f"{prom.url}/api/v1/alerts")["data"]["alerts"]:
        if alert["state"] == "firing" and alert["labels"]["alertname"] == "PantauSiteDown":
            out[alert["labels"]["site"]] = alert["annotations"]
    return out


def test_site_down_says_power_cut_or_link_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = upspair.snmpsim(monkeypatch)
    agent_port = free_port()
    config = tmp_path / "pantau.toml"
    config.write_text(CONFIG.format(agent_port=agent_port, tmp=tmp_path, snmp_port=sim.port))
    sim.start()
    try:
        with pantau_process("agent", config, tmp_path, f"http://127.0.0.1:{agent_port}"):
            prom_config = prometheus_config(
                tmp_path / "prometheus.yml",
                fast_rules(tmp_path),
                agents=[f"127.0.0.1:{agent_port}"],
                collectors=[],
            )
            with prometheus(tmp_path, prom_config) as prom:
                # the UPSes' word reached Prometheus: battery at A, mains at B
                got = wait_for(prom, "count(site:pantau_ups_on_battery:last15m) == 2", 60)
                assert got, "the agent's UPS series never reached Prometheus"
                words = {
                    s["metric"]["site"]: s["value"][1]
                    for s in wait_for(prom, "site:pantau_ups_on_battery:last15m", 5)
                }
                assert words == {"bts-a": "1", "bts-b": "0"}
                sim.stop()  # both sites go silent
                deadline = time.monotonic() + 60
                alerts = _alerts(prom)
                while len(alerts) < 2 and time.monotonic() < deadline:
                    time.sleep(0.5)
                    alerts = _alerts(prom)
                assert set(alerts) == {"bts-a", "bts-b"}, alerts
                assert alerts["bts-a"]["power"] == "listrik padam (UPS memakai baterai)"
                assert alerts["bts-b"]["power"] == "link putus"
    finally:
        sim.stop()
