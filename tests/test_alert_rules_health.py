"""pantau-alerts-health.yml: promtool unit tests run, cover every alert, and are load-bearing.

The promtool cases live in dashboards/prometheus/tests/pantau-alerts-health.test.yml. Every alert
of every rule file must link its runbook entry in docs/runbook.md (an anchor that exists).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from dashboard_exprs import PROMETHEUS, ROOT, RULE_FILES, rules
from promtool_rules import failed_cases, firing_and_quiet, promtool, run_weakened

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package prometheus; .ci/install-deps installs it)",
)
HEALTH = PROMETHEUS / "rules" / "pantau-alerts-health.yml"
UNIT_TESTS = PROMETHEUS / "tests" / "pantau-alerts-health.test.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
ALERTS = [r["alert"] for r in rules(HEALTH) if "alert" in r]
HELPERS = {"PantauSiteInMaintenance"}


def test_unit_tests_pass() -> None:
    proc = promtool("test", "rules", str(UNIT_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_is_tested_firing_and_quiet(alert: str) -> None:
    firing, quiet = firing_and_quiet(UNIT_TESTS, alert)
    assert firing, f"{alert}: no unit test expects it to fire"
    assert quiet, f"{alert}: no unit test expects it to stay quiet"


def _anchors() -> set[str]:
    """GitHub-style anchors of the runbook's headings (lower case, punctuation dropped)."""
    text = RUNBOOK.read_text(encoding="utf-8")
    return {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", text, re.M)
    }


@pytest.mark.parametrize(
    "rule",
    [r for path in RULE_FILES for r in rules(path) if "alert" in r],
    ids=lambda r: r["alert"],
)
def test_every_alert_links_its_runbook_entry(rule: dict) -> None:
    url = rule["annotations"].get("runbook_url", "")
    assert url.startswith("{{ $externalLabels.runbook_url }}#"), url
    anchor = url.split("#", 1)[1]
    assert anchor in _anchors(), f"{rule['alert']}: no heading for #{anchor} in docs/runbook.md"


def test_site_alerts_carry_the_labels_the_messages_need() -> None:
    """The templates name the site, its kind and district (by name): the join must bring them."""
    for rule in rules(HEALTH):
        if "alert" in rule and "pantau_site_info" in rule["expr"]:
            assert "group_left (name, kind, district, district_name, parent)" in rule["expr"]


MUTATIONS = {
    "keep_firing_for removed": ("keep_firing_for: 5m", "keep_firing_for: 0s", "keep_firing_for"),
    "the root is not told from the device behind it": (
        'unless on (site) (pantau_site_outage_open{cause="unreachable"} == 1)',
        'unless on (site) (pantau_site_outage_open{cause="no-such-cause"} == 1)',
        "pages only the root",
    ),
    "blankspot fires without a change": (
        "(pantau_district_blankspot_ratio - pantau_district_blankspot_ratio offset 1d) >= 0.1",
        "pantau_district_blankspot_ratio >= 0",
        "first day",
    ),
    "certificate warning for any lifetime": (
        "site_probe:pantau_tls_cert_expiry:days < 21 and",
        "site_probe:pantau_tls_cert_expiry:days < 9999 and",
        "30 days is quiet",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_unit_tests_catch_a_weakened_rule(mutation: str, tmp_path: Path) -> None:
    old, new, failing_case = MUTATIONS[mutation]
    proc = run_weakened(
        tmp_path, UNIT_TESTS, old, new, in_files=(HEALTH,), cases_named=failing_case
    )
    assert proc.returncode != 0, f"unit tests still pass with {mutation}"
    failed = failed_cases(proc)
    assert any(failing_case in name for name in failed), failed
