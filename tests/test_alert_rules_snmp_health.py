"""pantau-alerts-snmp-health.yml (issue 16): promtool unit tests run and cover every alert, the
power text of the site alerts tells a power cut from a link cut, and the tests catch a weakened
rule. Cases: dashboards/prometheus/tests/pantau-alerts-snmp-health.test.yml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dashboard_exprs import PROMETHEUS, RULE_FILES, rules
from promtool_rules import failed_cases, firing_and_quiet, promtool, run_weakened, unit_cases

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package prometheus; .ci/install-deps installs it)",
)
RULES = PROMETHEUS / "rules" / "pantau-alerts-snmp-health.yml"
UNIT_TESTS = PROMETHEUS / "tests" / "pantau-alerts-snmp-health.test.yml"
ALERTS = [r["alert"] for r in rules(RULES) if "alert" in r]


def test_unit_tests_pass() -> None:
    proc = promtool("test", "rules", str(UNIT_TESTS))
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
    firing, quiet = firing_and_quiet(UNIT_TESTS, alert)
    assert firing and quiet, alert


def test_power_cut_and_link_cut_are_both_tested() -> None:
    texts = {
        a["exp_annotations"].get("power")
        for case in unit_cases(UNIT_TESTS)
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
    proc = run_weakened(tmp_path, UNIT_TESTS, old, new, in_files=(RULES,), cases_named=case_word)
    assert proc.returncode != 0, f"unit tests still pass with {mutation}"
    failed = failed_cases(proc)
    assert any(case_word in name for name in failed), failed
