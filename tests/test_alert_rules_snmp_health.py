"""pantau-alerts-snmp-health.yml (issue 16): promtool unit tests run and cover every alert, the
power text of the site alerts tells a power cut from a link cut, and the tests catch a weakened
rule. Cases: dashboards/prometheus/tests/pantau-alerts-snmp-health.test.yml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from dashboard_exprs import PROMETHEUS, RULE_FILES, rules

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package prometheus; .ci/install-deps installs it)",
)
RULES = PROMETHEUS / "rules" / "pantau-alerts-snmp-health.yml"
UNIT_TESTS = PROMETHEUS / "tests" / "pantau-alerts-snmp-health.test.yml"
ALERTS = [r["alert"] for r in rules(RULES) if "alert" in r]


def _promtool_test(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=300
    )


def _cases() -> list[dict]:
    return yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))["tests"]


def test_unit_tests_pass() -> None:
    proc = _promtool_test(UNIT_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_issue_alerts_exist() -> None:
    assert set(ALERTS) == {
        "PantauUpsOnBattery",
        "PantauUpsRuntimeLow",
        "PantauRadioSignalLow",
        "PantauLteSignalLow",
        "PantauDeviceTemperatureHigh",
        "PantauOnuDown",
        "PantauVsatSignalLow",
    }


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_is_tested_firing_and_quiet(alert: str) -> None:
    firing = quiet = 0
    for case in _cases():
        for check in case.get("alert_rule_test", []):
            if check["alertname"] == alert:
                firing += bool(check["exp_alerts"])
                quiet += not check["exp_alerts"]
    assert firing and quiet, alert


def test_power_cut_and_link_cut_are_both_tested() -> None:
    texts = {
        a["exp_annotations"].get("power")
        for case in _cases()
        for check in case.get("alert_rule_test", [])
        for a in check["exp_alerts"]
    }
    assert {"listrik padam (UPS memakai baterai)", "link putus"} <= texts
    # every site-down alert of pantau-alerts.yml carries the power text
    for rule in rules(RULE_FILES[1]):
        if rule.get("alert") in ("PantauSiteDown", "PantauOfficeWithoutInternet"):
            assert "site:pantau_ups_on_battery:last15m" in rule["annotations"]["power"]


MUTATIONS = {
    "on battery read as mains": (
        "max by (site) (pantau_ups_on_battery) == 1",
        "max by (site) (pantau_ups_on_battery) == 0",
        "ups on battery",
    ),
    "signal threshold dropped": (
        "pantau_radio_signal_dbm < -80",
        "pantau_radio_signal_dbm < -90",
        "radio signal",
    ),
    "onu down read as up": ("pantau_pon_onu_up == 0", "pantau_pon_onu_up == 1", "onu down"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_unit_tests_catch_a_weakened_rule(mutation: str, tmp_path: Path) -> None:
    old, new, case_word = MUTATIONS[mutation]
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    for path in RULE_FILES:
        shutil.copy(path, tmp_path / "rules")
    text = RULES.read_text(encoding="utf-8")
    assert old in text, mutation
    (tmp_path / "rules" / RULES.name).write_text(text.replace(old, new))
    cases = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    cases["tests"] = [c for c in cases["tests"] if case_word in c["name"]]
    assert cases["tests"], case_word
    (tmp_path / "tests" / UNIT_TESTS.name).write_text(yaml.safe_dump(cases, allow_unicode=True))
    proc = _promtool_test(tmp_path / "tests" / UNIT_TESTS.name)
    assert proc.returncode != 0, f"unit tests still pass with {mutation}"
    failed = re.findall(r"name: (.*),\n", proc.stdout + proc.stderr)
    assert any(case_word in name for name in failed), failed
