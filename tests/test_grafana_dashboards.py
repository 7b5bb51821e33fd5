"""Static checks of the Grafana dashboards in dashboards/grafana/.

Grafana itself is not packaged for Debian 12, so the JSON is checked here for what Grafana needs to
import it and for what makes it portable (a data source variable instead of uids), and every query
is parsed by promtool. The live integration test (test_dashboards_live.py) runs the queries.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from dashboard_exprs import (
    GRAFANA,
    GRAFANA_BUILTINS,
    RULE_FILES,
    dashboard_exprs,
    dashboard_files,
    load_dashboard,
    panels,
    rules,
    variable_queries,
)

#: Grafana 9.4 wrote 37; Grafana 10.4/11 write 39. Older schemas use a different datasource model.
MIN_SCHEMA, MAX_SCHEMA = 37, 41
DS_REF = {"type": "prometheus", "uid": "${datasource}"}
DASHBOARDS = dashboard_files()
EXPECTED = {
    "pantau-overview.json",
    "pantau-site.json",
    "pantau-districts.json",
    "pantau-snmp-interfaces.json",
}


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_all_dashboards_present() -> None:
    assert {p.name for p in DASHBOARDS} == EXPECTED


@pytest.mark.parametrize("path", DASHBOARDS, ids=_ids(DASHBOARDS))
class TestDashboard:
    def test_schema_version_is_recent(self, path: Path) -> None:
        dash = load_dashboard(path)
        assert MIN_SCHEMA <= dash["schemaVersion"] <= MAX_SCHEMA
        assert dash["uid"] and len(dash["uid"]) <= 40  # Grafana's uid limit
        assert "pantau" in dash["tags"]

    def test_panel_ids_are_unique(self, path: Path) -> None:
        ids = [p["id"] for p in panels(load_dashboard(path))]
        assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}: {sorted(ids)}"

    def test_datasource_is_a_variable_never_a_uid(self, path: Path) -> None:
        dash = load_dashboard(path)
        ds_vars = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
        assert [(v["name"], v["query"]) for v in ds_vars] == [("datasource", "prometheus")]
        refs = list(_datasource_refs(dash))
        assert refs, "no data source references at all"
        for where, ref in refs:
            assert ref == DS_REF or ref.get("type") == "grafana", f"{where}: {ref}"
        # No uid of a real data source anywhere in the file, in any form.
        text = path.read_text(encoding="utf-8")
        for uid in re.findall(r'"uid":\s*"([^"]*)"', text):
            assert uid in {"${datasource}", "-- Grafana --", dash["uid"]}, uid

    def test_every_panel_queries_prometheus(self, path: Path) -> None:
        for panel in panels(load_dashboard(path)):
            if panel["type"] == "row":
                continue
            targets = panel.get("targets", [])
            assert targets, f"panel {panel['id']} {panel['title']!r} has no targets"
            refs = [t["refId"] for t in targets]
            assert len(refs) == len(set(refs)), f"panel {panel['id']}: duplicate refIds {refs}"
            for target in targets:
                assert target.get("expr", "").strip(), f"panel {panel['id']} {target['refId']}"
                assert target["datasource"] == DS_REF

    def test_panels_do_not_overlap(self, path: Path) -> None:
        cells: dict[tuple[int, int], int] = {}
        for panel in panels(load_dashboard(path)):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    other = cells.setdefault((x, y), panel["id"])
                    assert other == panel["id"], f"panels {other} and {panel['id']} overlap"

    def test_variables_used_are_defined(self, path: Path) -> None:
        dash = load_dashboard(path)
        defined = {v["name"] for v in dash["templating"]["list"]}
        used = set()
        for expr in dashboard_exprs(path):
            text = expr.expr
            for builtin in GRAFANA_BUILTINS:
                text = text.replace(builtin, "")
            used |= set(re.findall(r"\$\{?(\w+)", text))
        for _, query in variable_queries(path):
            used |= set(re.findall(r"\$\{?(\w+)", query))
        assert used <= defined, f"undefined variables: {sorted(used - defined)}"


def _datasource_refs(node: object, where: str = "") -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                out.append((where, value))
            elif key == "datasource" and value is not None:
                raise AssertionError(f"{where}: datasource given as {value!r}, not a reference")
            else:
                out += _datasource_refs(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _datasource_refs(value, f"{where}[{i}]")
    return out


def test_alert_links_point_at_real_dashboards() -> None:
    uids = {load_dashboard(p)["uid"] for p in DASHBOARDS}
    for path in RULE_FILES:
        for rule in rules(path):
            link = rule.get("annotations", {}).get("dashboard")
            if link:
                uid = re.search(r"/d/([^/]+)/", link).group(1)
                assert uid in uids, f"{rule['alert']}: links to unknown dashboard {uid}"


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package prometheus; .ci/install-deps installs it)",
)
def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """promtool parses every panel, annotation and variable query (as recording rules)."""
    values = {
        "site": "kantor",
        "agent": ".*",
        "district": ".*",
        "kind": ".*",
        "interface": ".*",
        "datasource": "",
    }
    from dashboard_exprs import substitute

    records = []
    for path in DASHBOARDS:
        for i, expr in enumerate(dashboard_exprs(path)):
            records.append(
                {
                    "record": f"dash_check:{path.stem.replace('-', '_')}:{i}",
                    "expr": substitute(expr.expr, values),
                }
            )
        for name, query in variable_queries(path):
            inner = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
            assert inner, f"{path.name} variable {name}: {query!r} is not label_values(expr, label)"
            records.append(
                {
                    "record": f"dash_check:{path.stem.replace('-', '_')}:var_{name}",
                    "expr": substitute(inner.group(1), values),
                }
            )
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dash", "rules": records}]}))
    proc = subprocess.run(
        ["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(records)} rules found" in proc.stdout


def test_provisioning_files_are_valid() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/pantau.yml").read_text())
    assert ds["apiVersion"] == 1
    [source] = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http")
    prov = yaml.safe_load((GRAFANA / "provisioning/dashboards/pantau.yml").read_text())
    [provider] = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
