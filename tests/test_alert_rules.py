"""Prometheus rules and config in dashboards/prometheus/, checked and unit-tested with promtool.

The unit tests themselves live in dashboards/prometheus/tests/pantau-alerts.test.yml (promtool's
format). Here they are run, checked to cover every alert in every required situation, and shown to
be load-bearing: a copy of the rules with one suppression removed must make them fail.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from dashboard_exprs import PROMETHEUS, ROOT, RULE_FILES, dashboard_exprs, dashboard_files, rules
from promtool_rules import failed_cases, firing_and_quiet, promtool, run_weakened, unit_cases

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package prometheus; .ci/install-deps installs it)",
)
UNIT_TESTS = PROMETHEUS / "tests" / "pantau-alerts.test.yml"
ALERTS = sorted({r["alert"] for r in rules(RULE_FILES[1]) if "alert" in r})
RECORDS = {r["record"] for path in RULE_FILES for r in rules(path) if "record" in r}
#: Alerts that exist only so Alertmanager can inhibit others (never notify anyone).
HELPERS = {"PantauSiteUnreachable", "PantauSiteVantageIsolated"}
SITE_LABELS = {"site", "name", "kind", "district"}


def test_rules_pass_promtool_check() -> None:
    proc = promtool("check", "rules", *map(str, RULE_FILES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(RULE_FILES)


def test_prometheus_config_passes_promtool_check() -> None:
    proc = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(RULE_FILES)} rule files found" in proc.stdout


def test_unit_tests_pass() -> None:
    proc = promtool("test", "rules", str(UNIT_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_is_tested_firing_and_quiet(alert: str) -> None:
    firing, quiet = firing_and_quiet(UNIT_TESTS, alert)
    assert firing, f"{alert}: no unit test expects it to fire"
    assert quiet or alert in HELPERS, f"{alert}: no unit test expects it to stay quiet"


@pytest.mark.parametrize(
    ("alert", "situations"),
    [
        ("PantauOfficeWithoutInternet", ("flap", "isolat", "down router", "unreachable")),
        ("PantauSiteDown", ("flap", "isolation", "behind a down")),
        ("PantauHighPacketLoss", ("burst", "isolated", "down parent")),
        ("PantauHighLatency", ("spike", "isolated", "down parent")),
        ("PantauInterfaceDown", ("flap", "isolation", "down parent")),
        ("PantauDeviceRebooted", ("isolation", "down parent")),
        ("PantauAgentDown", ("gap", "isolated")),
        ("PantauAgentIsolated", ("blip",)),
        ("PantauCollectorDown", ("restart",)),
        ("PantauCollectorStoreDown", ("blip",)),
    ],
)
def test_quiet_cases_cover_flap_isolation_and_parent(
    alert: str, situations: tuple[str, ...]
) -> None:
    """Each situation is named by a unit test that checks ``alert`` in it.

    promtool compares the exact list of firing alerts, so a case listing only the parent's alert
    proves the child's stays quiet. Cases that cannot apply are explained in the unit test file (a
    reboot counter cannot flap; an agent or the collector has no parent).
    """
    names = [
        case["name"]
        for case in unit_cases(UNIT_TESTS)
        if any(c["alertname"] == alert for c in case.get("alert_rule_test", []))
    ]
    for word in situations:
        assert any(word in name for name in names), (alert, word, names)


@pytest.mark.parametrize("alert", ALERTS)
def test_alert_labels_and_annotations(alert: str) -> None:
    found = [r for r in rules(RULE_FILES[1]) if r.get("alert") == alert]
    # A paging alert has one rule over the collector's decision and one fallback over the
    # agents' view; the `source` label tells them apart (promtool refuses identical label sets).
    assert len({r["labels"].get("source") for r in found}) == len(found)
    for rule in found:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert (rule["labels"]["severity"] == "info") == (alert in HELPERS)
        annotations = rule["annotations"]
        assert {"summary", "description", "dashboard"} <= set(annotations)
        assert annotations["dashboard"].startswith("{{ $externalLabels.grafana_url }}/d/")
        expr = rule["expr"]
        if "site:pantau_site_info:max" in expr:  # a site alert: joins the inventory labels
            joined = re.search(r"group_left \(([a-z_, ]+)\)", expr)
            assert joined and {"parent"} <= set(joined.group(1).replace(" ", "").split(","))
            assert "var-site={{ $labels.site }}" in annotations["dashboard"]


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"(?<![:\w])pantau_[a-z0-9_]+", expr))


def _recorded_names(expr: str) -> set[str]:
    return set(re.findall(r"\b[a-z_]+:pantau_[a-z0-9_]+:[a-z0-9_]+\b", expr))


def _contract_metrics() -> set[str]:
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    return set(re.findall(r"`(pantau_[a-z0-9_]+)", text))


def _all_exprs() -> list[tuple[str, str]]:
    out = [
        (f"{p.name} {r.get('alert') or r['record']}", r["expr"])
        for p in RULE_FILES
        for r in rules(p)
    ]
    for path in dashboard_files():
        out += [(e.where, e.expr) for e in dashboard_exprs(path)]
    return out


def test_metric_names_are_those_of_the_contracts() -> None:
    contract = _contract_metrics()
    histograms = {"pantau_icmp_rtt_seconds", "pantau_agent_scheduling_lag_seconds"}
    unknown = []
    for where, expr in _all_exprs():
        for name in _metric_names(expr):
            base = (
                re.sub(r"_(bucket|sum|count)$", "", name)
                if name.endswith(("_bucket", "_sum", "_count"))
                else name
            )
            if name not in contract and not (base in histograms and base in contract):
                unknown.append((where, name))
        for name in _recorded_names(expr):
            if name not in RECORDS:
                unknown.append((where, name))
    assert not unknown, unknown


MUTATIONS = {
    "isolation filter removed": (
        "pantau_site_up unless on (instance) (pantau_agent_isolated == 1)",
        "pantau_site_up",
        "agent isolation",
    ),
    "parent suppression removed": (
        'site:pantau_site_info:max{parent!=""}',
        'site:pantau_site_info:max{parent="no-such-parent"}',
        "behind a down",
    ),
    "office `for` removed": ("for: 3m", "for: 0m", "flapping"),
    "maintenance silencing removed": (
        "unless on (site) site:pantau_maintenance_active:max",
        "unless on (site) (site:pantau_maintenance_active:max == 2)",
        "maintenance",
    ),
    "paging from the agents' view while the collector is up": (
        'unless on () (up{job="pantau-collector"} == 1)',
        'unless on () (up{job="pantau-collector"} == 2)',
        "collector decides",
    ),
    "availability counts maintenance": (
        "unless on (site) (site:pantau_maintenance_active:max)",
        "",
        'expr: "site:pantau_site_availability:ratio_1h"',
    ),
    "loss only for sites seen up: guard removed": (
        "(pantau_site_up == 1)",
        "(pantau_site_up >= 0)",
        "down parent",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_unit_tests_catch_a_weakened_rule(mutation: str, tmp_path: Path) -> None:
    old, new, failing_case = MUTATIONS[mutation]
    proc = run_weakened(tmp_path, UNIT_TESTS, old, new)
    assert proc.returncode != 0, f"unit tests still pass with {mutation}"
    failed = failed_cases(proc)
    # promtool names the case of a failed alert test, and the expression of a failed PromQL test.
    output = proc.stdout + proc.stderr
    assert any(failing_case in name for name in failed) or failing_case in output, failed
