"""A live pantau stack for the dashboard tests: agent and collector processes, Prometheus over them.

The agent and the collector run as real processes (``python -m pantau.cli agent|collector``) with a
config written by the test. Prometheus (Debian package) scrapes them every second and evaluates a
test copy of the shipped rules every second, with every ``for:`` shortened (:func:`fast_rules`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import yaml
from dashboard_exprs import PROMETHEUS, RULE_FILES
from promstack import Server, free_port, http_json, prometheus_argv, query, run_server


def have(module: str) -> bool:
    """True when ``pantau.<module>`` is part of this build."""
    try:
        return importlib.util.find_spec(f"pantau.{module}") is not None
    except ModuleNotFoundError:
        return False


def fast_rules(out_dir: Path, for_seconds: int = 3) -> list[Path]:
    """Copies of the rule files with ``for:`` and group intervals cut to seconds."""
    out = []
    for path in RULE_FILES:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in data["groups"]:
            if "interval" in group:
                group["interval"] = "1s"
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = f"{for_seconds}s"
                if "keep_firing_for" in rule:
                    rule["keep_firing_for"] = f"{for_seconds}s"
                # Event windows sized for production minutes are kept; the short runs fit in them.
        target = out_dir / path.name
        target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        out.append(target)
    return out


def prometheus_config(
    out: Path,
    rule_files: Sequence[Path],
    agents: Sequence[str],
    collectors: Sequence[str],
    alertmanager: str | None = None,
) -> Path:
    """The shipped prometheus.yml with test targets, 1 s intervals and the test rule copies."""
    data = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    data["global"].update(scrape_interval="1s", evaluation_interval="1s")
    data["global"]["external_labels"]["grafana_url"] = "http://grafana.test"
    data["rule_files"] = [str(p) for p in rule_files]
    if alertmanager:
        data["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
        data["alerting"]["alertmanagers"][0]["api_version"] = "v2"
    else:
        del data["alerting"]
    targets = {"pantau-agent": list(agents), "pantau-collector": list(collectors)}
    data["scrape_configs"] = [job for job in data["scrape_configs"] if job["job_name"] in targets]
    for job in data["scrape_configs"]:
        job.update(scrape_interval="1s", scrape_timeout="900ms")
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


@contextlib.contextmanager
def pantau_process(command: str, config: Path, workdir: Path, url: str) -> Iterator[None]:
    """Run ``pantau COMMAND --config CONFIG`` until its /metrics answers; stop it afterwards."""
    log = workdir / f"{command}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pantau.cli", command, "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"pantau {command} exited: {log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                http_json_text(f"{url}/metrics")
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"pantau {command} not serving: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def http_json_text(url: str, timeout: float = 5.0) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def metric_names(exposition: str) -> set[str]:
    """Sample names in a Prometheus text exposition."""
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][\w:]*)[{ ]", exposition, re.M)}


@contextlib.contextmanager
def prometheus(workdir: Path, config: Path) -> Iterator[Server]:
    with run_server("prometheus", prometheus_argv(config, workdir / "tsdb"), workdir) as prom:
        yield prom


def wait_for(prom: Server, expr: str, timeout: float, present: bool = True) -> list[dict]:
    """Poll an instant query until it returns series (or none, with ``present=False``)."""
    deadline = time.monotonic() + timeout
    while True:
        result = query(prom, expr)
        if bool(result) == present or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def firing(prom: Server) -> Mapping[str, list[dict]]:
    """Firing alerts by name, from Prometheus' own /api/v1/alerts."""
    out: dict[str, list[dict]] = {}
    for alert in http_json(f"{prom.url}/api/v1/alerts")["data"]["alerts"]:
        if alert["state"] == "firing":
            out.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
    return out


__all__ = ["fast_rules", "free_port", "have", "prometheus", "prometheus_config"]
