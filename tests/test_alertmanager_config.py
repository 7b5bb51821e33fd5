"""The Alertmanager example: amtool's checks, its routing table, its inhibition on a live server."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from dashboard_exprs import DASHBOARDS
from promstack import ALERTMANAGER_BIN, alertmanager_argv, http_json, run_server

CONFIG = DASHBOARDS / "alertmanager" / "alertmanager.yml"
pytestmark = pytest.mark.skipif(
    shutil.which("amtool") is None or ALERTMANAGER_BIN is None,
    reason="amtool/alertmanager not installed (Debian package prometheus-alertmanager; "
    ".ci/install-deps installs it)",
)


def test_amtool_check_config() -> None:
    proc = subprocess.run(
        ["amtool", "check-config", str(CONFIG)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"severity": "info", "district": "64.71.04.1001"}, "blackhole"),
        (
            {"severity": "critical", "district": "64.71.04.1001"},
            "oncall-pager,kec-balikpapan-tengah",
        ),
        ({"severity": "critical", "district": "64.71.04"}, "oncall-pager,kec-balikpapan-tengah"),
        ({"severity": "warning", "district": "64.71.01.1002"}, "kec-balikpapan-timur"),
        ({"severity": "warning", "district": "64.71.02.1003"}, "kec-balikpapan-barat"),
        # A code that merely starts like 64.71.04 is another kecamatan (64.71.041 does not exist,
        # but the matcher must not take a prefix of a segment).
        ({"severity": "warning", "district": "64.71.041"}, "noc-diskominfo"),
        ({"severity": "critical"}, "oncall-pager,noc-diskominfo"),
        ({"severity": "warning"}, "noc-diskominfo"),
    ],
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()),
)
def test_routing_by_severity_and_district(labels: dict[str, str], receivers: str) -> None:
    args = [f"{k}={v}" for k, v in labels.items()]
    proc = subprocess.run(
        [
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            f"--verify.receivers={receivers}",
            "alertname=PantauTest",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _alert(alertname: str, severity: str, **labels: str) -> dict:
    return {
        "labels": {"alertname": alertname, "severity": severity, **labels},
        "annotations": {"summary": alertname},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
    }


def test_inhibition_on_a_live_alertmanager(tmp_path: Path) -> None:
    """Helper alerts silence the sites behind a down parent or an isolated agent; nothing else."""
    site = {"name": "Situs X", "kind": "office", "district": "64.71.04.1001"}
    alerts = [
        # A router down, and the office behind it (already sent before its parent was known).
        _alert("PantauSiteDown", "warning", site="core", **site),
        _alert("PantauOfficeWithoutInternet", "critical", site="kantor", parent="core", **site),
        _alert("PantauSiteUnreachable", "info", site="kantor", parent="core", **site),
        # An isolated agent: its own loss alert, and a site watched only by it.
        _alert("PantauAgentIsolated", "critical", instance="a:9469"),
        _alert("PantauHighPacketLoss", "warning", instance="a:9469", site="bts1", **site),
        _alert("PantauSiteVantageIsolated", "info", site="bts2", **site),
        _alert("PantauSiteDown", "warning", site="bts2", **site),
        # Unrelated: another agent's loss alert, a district alert without a site, the collector.
        _alert("PantauHighPacketLoss", "warning", instance="b:9469", site="bts3", **site),
        _alert("PantauDistrictBlankspot", "warning", instance="c:9470", district="64.71.04.1001"),
        _alert("PantauCollectorDown", "critical", instance="c:9470"),
    ]
    with run_server("alertmanager", alertmanager_argv(CONFIG, tmp_path / "am"), tmp_path) as am:
        http_json(f"{am.url}/api/v2/alerts", alerts)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = http_json(f"{am.url}/api/v2/alerts")
            if len(got) == len(alerts):
                break
            time.sleep(0.2)
    inhibited = {
        (a["labels"]["alertname"], a["labels"].get("site") or a["labels"].get("instance"))
        for a in got
        if a["status"]["inhibitedBy"]
    }
    assert inhibited == {
        ("PantauOfficeWithoutInternet", "kantor"),
        ("PantauHighPacketLoss", "bts1"),
        ("PantauSiteDown", "bts2"),
    }
