"""Where the PromQL of pantau's dashboards and rules lives, for the tests that check it.

Every expression is returned with a name saying where it came from (dashboard, panel, refId; rule
file, rule name), so a failing check points at the exact query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"
GRAFANA = DASHBOARDS / "grafana"
PROMETHEUS = DASHBOARDS / "prometheus"
RULE_FILES = (
    PROMETHEUS / "rules" / "pantau-recording.yml",
    PROMETHEUS / "rules" / "pantau-alerts.yml",
    PROMETHEUS / "rules" / "pantau-alerts-health.yml",
    PROMETHEUS / "rules" / "pantau-alerts-snmp-health.yml",
)

#: Grafana's built-in interval variables, replaced by values Prometheus accepts.
GRAFANA_BUILTINS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
}
_VAR = re.compile(r"\$\{?([A-Za-z_]\w*)(?::\w+)?\}?")


@dataclass(frozen=True)
class Expr:
    """One PromQL expression and where it is written."""

    where: str
    expr: str


def dashboard_files() -> list[Path]:
    return sorted(GRAFANA.glob("pantau-*.json"))


def load_dashboard(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(dashboard: Mapping) -> Iterator[dict]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs(path: Path) -> Iterator[Expr]:
    """Panel targets, annotation queries and query variables of one dashboard."""
    dash = load_dashboard(path)
    for panel in panels(dash):
        for target in panel.get("targets", []):
            yield Expr(
                f"{path.name} panel {panel['id']} {panel['title']!r} {target['refId']}",
                target["expr"],
            )
    for ann in dash.get("annotations", {}).get("list", []):
        if "expr" in ann:
            yield Expr(f"{path.name} annotation {ann['name']!r}", ann["expr"])


def variable_queries(path: Path) -> Iterator[tuple[str, str]]:
    """``(variable name, label_values(...) query)`` of each query variable."""
    for var in load_dashboard(path)["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            yield var["name"], query["query"] if isinstance(query, dict) else query


def rules(path: Path) -> Iterator[dict]:
    for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
        yield from group["rules"]


def rule_exprs() -> Iterator[Expr]:
    for path in RULE_FILES:
        for rule in rules(path):
            name = rule.get("alert") or rule["record"]
            yield Expr(f"{path.name} {name}", rule["expr"])


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace Grafana variables: built-ins by fixed intervals, the rest from ``values``."""
    for builtin, value in GRAFANA_BUILTINS.items():
        expr = expr.replace(builtin, value)

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VAR.sub(one, expr)
