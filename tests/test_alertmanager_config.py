"""The Alertmanager example: amtool's checks, its routing table, its inhibition on a live server.

The live server runs the shipped config pointed at loopback peers (notify_peers): the shipped
receivers name a city's mail server and Telegram's servers, which tests never contact.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from dashboard_exprs import DASHBOARDS
from notify_peers import SmtpSink, TelegramStandIn, alertmanager_test_config
from promstack import ALERTMANAGER_BIN, alertmanager_argv, http_json, run_server

CONFIG = DASHBOARDS / "alertmanager" / "alertmanager.yml"
TEMPLATES = DASHBOARDS / "alertmanager" / "templates"
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


def test_amtool_check_config_with_the_templates_installed(tmp_path: Path) -> None:
    """The shipped file with its templates glob pointed at this checkout: amtool parses them."""
    text = CONFIG.read_text(encoding="utf-8")
    assert "/etc/prometheus/pantau-templates/*.tmpl" in text
    config = tmp_path / "alertmanager.yml"
    config.write_text(text.replace("/etc/prometheus/pantau-templates", str(TEMPLATES)))
    proc = subprocess.run(
        ["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 templates" in proc.stdout and "SUCCESS" in proc.stdout


def test_no_secret_in_the_shipped_config() -> None:
    """Passwords and tokens are read from files (docs/operations.md, section 5)."""
    text = CONFIG.read_text(encoding="utf-8")
    assert "smtp_auth_password_file: /etc/pantau/secrets/smtp-password" in text
    assert "smtp_auth_password:" not in text and "auth_password:" not in text
    assert text.count('bot_token: "<file:/etc/pantau/secrets/telegram-bot-token>"') == 1
    assert "credentials_file: /etc/pantau/secrets/whatsapp-gateway-token" in text


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"severity": "info", "district": "64.71.04.1001"}, "blackhole"),
        (
            {"severity": "critical", "district": "64.71.04.1001"},
            "piket-diskominfo,kec-balikpapan-tengah",
        ),
        (
            {"severity": "critical", "district": "64.71.04"},
            "piket-diskominfo,kec-balikpapan-tengah",
        ),
        ({"severity": "warning", "district": "64.71.01.1002"}, "kec-balikpapan-timur"),
        ({"severity": "warning", "district": "64.71.02.1003"}, "kec-balikpapan-barat"),
        # A code that merely starts like 64.71.04 is another kecamatan (64.71.041 does not exist,
        # but the matcher must not take a prefix of a segment).
        ({"severity": "warning", "district": "64.71.041"}, "noc-diskominfo"),
        ({"severity": "critical"}, "piket-diskominfo,noc-diskominfo"),
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


EXPECTED_INHIBITED = {
    ("PantauOfficeWithoutInternet", "kantor"),
    ("PantauHighPacketLoss", "bts1"),
    ("PantauSiteDown", "bts2"),
    ("PantauSiteDown", "core2"),
    ("PantauSiteDown", "bts4"),
}


def test_inhibition_on_a_live_alertmanager(tmp_path: Path) -> None:
    """Helper alerts silence the sites behind a down parent, an isolated agent or in maintenance,
    and a dead router's PantauUpstreamDown silences its own "site down"; nothing else."""
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
        # A router that pages as the root cause: its own "site down" adds nothing.
        _alert("PantauUpstreamDown", "critical", site="core2", **site),
        _alert("PantauSiteDown", "warning", site="core2", **site),
        # A site in a maintenance window.
        _alert("PantauSiteInMaintenance", "info", site="bts4", district="64.71.04.1001"),
        _alert("PantauSiteDown", "warning", site="bts4", **site),
        # Unrelated: another agent's loss alert, a district alert without a site, the collector.
        _alert("PantauHighPacketLoss", "warning", instance="b:9469", site="bts3", **site),
        _alert("PantauDistrictBlankspot", "warning", instance="c:9470", district="64.71.04.1001"),
        _alert("PantauCollectorDown", "critical", instance="c:9470"),
    ]
    smtp = SmtpSink("pantau", "x")
    smtp.start()
    telegram = TelegramStandIn("1:x")
    password, token = tmp_path / "smtp-password", tmp_path / "telegram-bot-token"
    password.write_text("x")
    token.write_text("1:x")
    config = alertmanager_test_config(CONFIG, tmp_path, smtp, password, telegram, token)
    with (
        contextlib.ExitStack() as stack,
        run_server("alertmanager", alertmanager_argv(config, tmp_path / "am"), tmp_path) as am,
    ):
        stack.callback(smtp.stop)
        stack.callback(telegram.close)
        http_json(f"{am.url}/api/v2/alerts", alerts)
        # Alertmanager's inhibitor learns of new source alerts asynchronously: an alert can be
        # listed before its inhibitedBy is filled in, so read until the answer is the expected
        # one (bounded); a wrong inhibition rule still fails, with the last answer.
        deadline = time.monotonic() + 10
        while True:
            got = http_json(f"{am.url}/api/v2/alerts")
            inhibited = {
                (a["labels"]["alertname"], a["labels"].get("site") or a["labels"].get("instance"))
                for a in got
                if a["status"]["inhibitedBy"]
            }
            if len(got) == len(alerts) and inhibited == EXPECTED_INHIBITED:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert len(got) == len(alerts)
    assert inhibited == EXPECTED_INHIBITED
