"""A real Prometheus in the lab, scraping the lab's agents and collector with pantau's rules.

Scenarios cannot wait the minutes the shipped rules wait (``for: 5m``, ``[5m]`` windows), so
:func:`scale_rules` writes a copy of the rule files with every duration divided by a factor
(60: minutes become seconds) and the lab's Prometheus scrapes and evaluates every second. The
expressions are the shipped ones, unchanged.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_RANGE = re.compile(r"\[(\d+(?:ms|s|m|h|d|w|y))(?::(\d+(?:ms|s|m|h|d|w|y))?)?\]")


def _seconds(text: str) -> float:
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))


def _scaled(text: str, factor: float) -> str:
    return f"{max(1, round(_seconds(text) * 1000 / factor))}ms"


def scale_expr(expr: str, factor: float) -> str:
    """``expr`` with every range selector's duration divided by ``factor``."""

    def repl(m: re.Match[str]) -> str:
        step = (
            f":{_scaled(m.group(2), factor)}" if m.group(2) else (":" if ":" in m.group(0) else "")
        )
        return f"[{_scaled(m.group(1), factor)}{step}]"

    return _RANGE.sub(repl, expr)


def scale_rules(src: Path, dst: Path, factor: float) -> Path:
    """Copy a rule file with ``for``, group ``interval`` and ranges divided by ``factor``."""
    doc: dict[str, Any] = yaml.safe_load(src.read_text(encoding="utf-8"))
    for group in doc.get("groups", []):
        if "interval" in group:
            group["interval"] = _scaled(group["interval"], factor)
        for rule in group.get("rules", []):
            rule["expr"] = scale_expr(str(rule["expr"]), factor)
            if "for" in rule:
                rule["for"] = _scaled(rule["for"], factor)
    dst.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return dst


def write_config(
    workdir: Path,
    agents: Sequence[str],
    collector: str,
    rules: Sequence[Path],
    factor: float = 60.0,
) -> Path:
    """A Prometheus config scraping ``agents`` and ``collector`` (HOST:PORT) every second."""
    scaled = [scale_rules(r, workdir / f"scaled-{r.name}", factor) for r in rules]
    config = {
        "global": {
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "external_labels": {"grafana_url": "http://grafana.lab"},
        },
        "rule_files": [str(p) for p in scaled],
        "scrape_configs": [
            {
                "job_name": "pantau-agent",
                "scrape_timeout": "900ms",
                "static_configs": [{"targets": list(agents)}],
            },
            {
                "job_name": "pantau-collector",
                "scrape_timeout": "900ms",
                "static_configs": [{"targets": [collector]}],
            },
        ],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
