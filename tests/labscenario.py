"""Helpers for the lab scenarios: a running lab (snmpd, two agents, collector) and what it says.

Everything is read the way an operator would: the collector's HTTP API and ``/metrics``, the
agents' ``/metrics`` and event API, from the root namespace through the lab's ``gw`` link.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from pantau.lab.plan import DEMO_SITES, LabSettings
from pantau.lab.runner import LabRun, have, wait_until

#: Fast timings: a site goes down within ~3 s of a cut, the collector knows ~1 s later.
FAST = LabSettings(
    icmp_interval=1.0, icmp_timeout=0.5, icmp_count=3, down_after=2, up_after=2, pull_interval=0.5
)
OFFICES = [s.id for s in DEMO_SITES if s.kind == "office"]
BEHIND_CORE = [s.id for s in DEMO_SITES if s.id != "core"]


def missing_parts() -> str | None:
    """Why the scenarios cannot run in this build, or None."""
    absent = [m for m in ("agent.runtime", "collector.cli", "agent.probes.icmp") if not have(m)]
    return f"pantau parts not in this build: {', '.join(absent)}" if absent else None


def outages(run: LabRun, **query: str) -> list[dict[str, Any]]:
    """The collector's outages (``GET /api/v1/outages``), oldest first."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    found = run.get_json(f"{run.files.collector_url}/api/v1/outages?{qs}")["outages"]
    return sorted(found, key=lambda o: (o["start"], o["site"]))


def healthz(run: LabRun) -> tuple[int, dict[str, Any]]:
    """The collector's ``/healthz``: status code and JSON body (503 is an answer, not an error)."""
    try:
        with urllib.request.urlopen(f"{run.files.collector_url}/healthz", timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def site_states(run: LabRun) -> dict[str, str]:
    """The collector's current state of every site (``GET /api/v1/sites``)."""
    return {
        s["id"]: s["state"]
        for s in run.get_json(f"{run.files.collector_url}/api/v1/sites")["sites"]
    }


def agent_events(run: LabRun, agent: str) -> list[dict[str, Any]]:
    """Every event in an agent's log, through its event API."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = run.get_json(f"{run.files.agent_urls[agent]}/api/v1/events?after={after}")
        events += page["events"]
        after = page["next"]
        if not page["more"]:
            return events


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text exposition as ``{(name, sorted labels): value}``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample's value, or None when the series is absent."""
    return samples(text).get((name, tuple(sorted(labels.items()))))


def collector_metrics(run: LabRun) -> str:
    return run.get_text(f"{run.files.collector_url}/metrics")


def agent_metrics(run: LabRun, agent: str) -> str:
    return run.get_text(f"{run.files.agent_urls[agent]}/metrics")


def wait_state(run: LabRun, site: str, state: str, timeout: float = 20.0) -> float:
    """Wait until the collector says ``site`` is ``state``; return when (Unix time)."""
    wait_until(lambda: site_states(run).get(site) == state, timeout, what=f"{site} {state}")
    return time.time()


def per_direction(path_loss: float) -> float:
    """The loss to set on each direction of a link for ``path_loss`` over the round trip."""
    return 1 - math.sqrt(1 - path_loss)


RULES = sorted(
    (Path(__file__).resolve().parents[1] / "dashboards" / "prometheus" / "rules").glob("*.yml")
)
SITE_ALERTS = {
    "PantauOfficeWithoutInternet",
    "PantauSiteDown",
    "PantauHighPacketLoss",
    "PantauHighLatency",
}


def start_prometheus(run: LabRun) -> str:
    """A real Prometheus with the shipped rules (durations / 60), once it has the sites."""
    url = run.start_prometheus(RULES)

    def sees_all_sites() -> bool:
        q = run.get_json(f"{url}/api/v1/query?query=count(site:pantau_site_up:max_connected==1)")
        result = q["data"]["result"]
        return bool(result) and int(float(result[0]["value"][1])) == len(DEMO_SITES)

    wait_until(sees_all_sites, 30, what="Prometheus seeing every site up")
    return url


def alerts(run: LabRun, url: str, state: str = "firing") -> set[tuple[str, str, str]]:
    """Prometheus' active alerts in ``state`` as (alertname, site, severity)."""
    found = run.get_json(f"{url}/api/v1/alerts")["data"]["alerts"]
    return {
        (a["labels"]["alertname"], a["labels"].get("site", ""), a["labels"].get("severity", ""))
        for a in found
        if a["state"] == state
    }
