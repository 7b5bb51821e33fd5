"""Static checks of the Grafana dashboards in dashboards/grafana/.

Grafana itself is not packaged for Debian 12, so the JSON is checked here for what Grafana needs to
import it and for what makes it portable (a data source variable instead of uids), and every query
is parsed by promtool. The live integration test (test_dashboards_live.py) runs the queries.
"""

from __future__ import annotations

import json
import os
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
    "pantau-snmp-health.json",
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
    prometheus, collector = ds["datasources"]  # the metrics, and the district map's GeoJSON
    assert prometheus["isDefault"] and collector["uid"] == "pantau-collector"
    for source in (prometheus, collector):
        assert source["type"] == "prometheus" and source["url"].startswith("http")
    prov = yaml.safe_load((GRAFANA / "provisioning/dashboards/pantau.yml").read_text())
    [provider] = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


#: Where .ci/install-deps puts the released geomap panel schema (npm @grafana/schema) and tsc.
GRAFANA_SCHEMA = Path(os.environ.get("PANTAU_GRAFANA_SCHEMA", "/opt/pantau-ci/grafana-schema"))
COLLECTOR_PROXY = "/api/datasources/proxy/uid/pantau-collector/"


def _geomaps() -> list[dict]:
    return [p for p in panels(load_dashboard(GRAFANA / "pantau-districts.json"))
            if p["type"] == "geomap"]  # fmt: skip


def test_district_map_needs_no_alpha_layer_and_no_copied_file() -> None:
    maps = _geomaps()
    assert len(maps) == 2
    for panel in maps:
        layers = panel["options"]["layers"]
        # geojson and markers are released layers; dynamic-geojson is alpha.
        assert [layer["type"] for layer in layers] == ["geojson", "markers"]
        src = layers[0]["config"]["src"]
        assert src.startswith(COLLECTOR_PROXY) and src.endswith("/api/v1/districts.geojson")
        assert "public/maps" not in json.dumps(panel)
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/pantau.yml").read_text())
    uids = {d.get("uid"): d for d in sources["datasources"]}
    assert uids["pantau-collector"]["access"] == "proxy"
    assert not uids["pantau-collector"].get("isDefault")


@pytest.mark.parametrize("index", [0, 1], ids=["blankspot", "availability"])
def test_district_map_never_colours_no_data_as_a_class(index: int) -> None:
    rules_ = _geomaps()[index]["options"]["layers"][0]["config"]["rules"]
    first, classes = rules_[0], rules_[1:]
    # Grafana tries rules in order and `null >= 0` holds in JavaScript: "no data" must come first.
    assert first["check"]["operation"] == "eq" and first["check"]["value"] == "null"
    assert first["style"]["color"]["fixed"] == "#bdbdbd"
    props = {r["check"]["property"] for r in rules_}
    assert len(props) == 1 and props <= {"blankspot_ratio", "availability_ratio"}
    values = [r["check"]["value"] for r in classes]
    assert all(r["check"]["operation"] == "gte" for r in classes)
    assert values == sorted(values, reverse=True) and values[-1] == 0
    colours = [r["style"]["color"]["fixed"] for r in classes]
    assert len(set(colours)) == len(colours) and "#bdbdbd" not in colours


def test_geomap_options_typecheck_against_released_grafana_schema(tmp_path: Path) -> None:
    schema = GRAFANA_SCHEMA / "node_modules" / "@grafana" / "schema"
    tsc = GRAFANA_SCHEMA / "node_modules" / ".bin" / "tsc"
    if not schema.is_dir() or not tsc.exists() or shutil.which("node") is None:
        pytest.skip(f"released @grafana/schema and typescript not found under {GRAFANA_SCHEMA} "
                    "(.ci/install-deps installs them from npm)")  # fmt: skip
    version = json.loads((schema / "package.json").read_text())["version"]
    assert version.startswith("13."), version
    panel_types = schema / "dist/types/raw/composable/geomap/panelcfg/x/types.gen"
    lines = [
        f"import type {{ Options }} from '{panel_types}';",
        # Enums are written as their string values in dashboard JSON.
        "type Loose<T> = T extends string ? `${T}` : T extends Array<infer U> ? Array<Loose<U>>"
        " : T extends object ? { [K in keyof T]: Loose<T[K]> } : T;",
    ]
    for n, panel in enumerate(_geomaps()):
        lines.append(f"export const panel{n}: Loose<Options> = {json.dumps(panel['options'])};")
    good = tmp_path / "check.ts"
    good.write_text("\n".join(lines) + "\n")
    bad = tmp_path / "bad.ts"  # the check can fail: an unknown option is refused
    broken = dict(_geomaps()[0]["options"], controls={"showZoom": True, "zoomWheel": True})
    bad.write_text(
        "\n".join([*lines[:2], f"export const x: Loose<Options> = {json.dumps(broken)};"])
    )

    def tsc_run(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(tsc), "--noEmit", "--strict", "--skipLibCheck", "--target", "es2020",
             "--moduleResolution", "node", str(path)],
            capture_output=True, text=True, timeout=120, cwd=GRAFANA_SCHEMA,
        )  # fmt: skip

    ok = tsc_run(good)
    assert ok.returncode == 0, ok.stdout[-3000:]
    refused = tsc_run(bad)
    assert refused.returncode != 0 and "zoomWheel" in refused.stdout


def test_every_snmp_health_metric_has_a_panel() -> None:
    """A health family's new series is shown: every metric name the family modules declare
    (and table_up) is queried by a panel of the SNMP health dashboard."""
    from pantau.agent.snmp.health.exposition import TABLE_UP, metric_names

    queried = " ".join(e.expr for e in dashboard_exprs(GRAFANA / "pantau-snmp-health.json"))
    missing = [n for n in (*metric_names(), TABLE_UP) if not re.search(rf"\b{n}\b", queried)]
    assert not missing, f"no panel of pantau-snmp-health.json queries {missing}"
