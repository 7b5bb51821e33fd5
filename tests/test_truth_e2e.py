"""One truth, end to end (issue 11): the collector's API, ``pantau report`` and Prometheus agree.

Real agents in network namespaces, the real collector, a real Prometheus scraping both with the
shipped rules (durations / 60), over one scenario: an outage inside a maintenance window, one
outside it, a site no agent ever observes, a flapping site, an isolated agent and a down parent.

* availability and downtime per site and per district: the collector's ``/api/v1/availability``
  and the report's CSV are equal to the bit; PromQL over the recording rules agrees within one
  evaluation interval per state change;
* the paging alerts that fired are exactly the sites with an outage the collector opened, minus
  those in maintenance and those only unreachable behind a down parent (the parent pages).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from labscenario import FAST, RULES, collector_metrics, metric, outages, site_states, wait_state

from pantau.events import parse_time
from pantau.lab.plan import DEMO_SITES
from pantau.lab.runner import LabRun, wait_until

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.timeout(300)]

PAGES = {"PantauOfficeWithoutInternet", "PantauSiteDown"}
#: Registered with the collector only: no agent probes it, so nothing is ever known of it.
UNSEEN = "kantor-tak-terpantau"
UNSEEN_DISTRICT = "64.71.04.1003"
MAINT_SITE, OUTSIDE_SITE, FLAP_SITE = (
    "kantor-camat-selatan",
    "kantor-walikota",
    "kantor-camat-utara",
)
PARENT, CHILD = "bts-manggar", "hotspot-taman"


def _rfc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _configure(run: LabRun, window: tuple[float, float]) -> None:
    """Add the never-observed site and the maintenance window to the collector's config only."""
    text = run.files.collector.read_text(encoding="utf-8")
    text += (
        f'\n[[sites]]\nid = "{UNSEEN}"\nname = "Kantor tak terpantau"\nkind = "office"\n'
        "lat = -1.215\nlon = 116.83\n"
        f"\n[[collector.maintenance]]\nstart = {_rfc(window[0])}\nend = {_rfc(window[1])}\n"
        f'site = "{MAINT_SITE}"\nreason = "uji pemeliharaan"\n'
    )
    run.files.collector.write_text(text, encoding="utf-8")


class AlertLog:
    """Polls Prometheus' alerts every half second; keeps every paging alert seen firing."""

    def __init__(self, run: LabRun, url: str) -> None:
        self.run, self.url = run, url
        self.fired: set[tuple[str, str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        deadline = time.monotonic() + 280  # bounded whatever happens to the test
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                found = self.run.get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
            except OSError:
                found = []
            for a in found:
                labels = a["labels"]
                if a["state"] == "firing" and labels["alertname"] in PAGES:
                    self.fired.add((labels["alertname"], labels["site"], labels.get("source", "")))
            self._stop.wait(0.5)

    def stop(self) -> set[tuple[str, str, str]]:
        self._stop.set()
        self._thread.join(5)
        return self.fired


def _cut_until(run: LabRun, site: str, page_wait: float = 0.0) -> None:
    run.lab.cut(site)
    wait_state(run, site, "down")
    time.sleep(page_wait)
    run.lab.restore(site)
    wait_state(run, site, "up")


def _prometheus(run: LabRun) -> str:
    url = run.start_prometheus(RULES)

    def decided_for_all() -> bool:
        # Every watched site has a decision (or is in maintenance: no sample then).
        expr = "count(site:pantau_site_up:decided or on (site) site:pantau_maintenance_active:max)"
        result = _query(run, url, expr)
        return bool(result) and int(float(result[0]["value"][1])) == len(DEMO_SITES)

    wait_until(decided_for_all, 30, what="Prometheus seeing the collector's decision")
    return url


def _report(run: LabRun, out: Path) -> dict[str, pd.DataFrame]:
    month = datetime.now(UTC).strftime("%Y-%m")
    argv = [sys.executable, "-m", "pantau.cli", "report", "--config", str(run.files.collector),
            "--out", str(out), "--month", month]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=os.environ)
    assert proc.returncode == 0, proc.stderr[-3000:]
    read = {"dtype": {"district": str}}  # pandas reads floats back exactly (round trip)
    return {
        name: pd.read_csv(out / f"{name}.csv", **read) for name in ("period", "sites", "districts")
    }


def _query(run: LabRun, url: str, expr: str, at: float | None = None) -> list[dict]:
    params = {"query": expr, **({} if at is None else {"time": repr(at)})}
    return run.get_json(f"{url}/api/v1/query?{urllib.parse.urlencode(params)}")["data"]["result"]


def _agent_up(run: LabRun) -> float | None:
    return metric(collector_metrics(run), "pantau_collector_agent_up", agent="agent1")


def _nan_none(value: object) -> object:
    return None if isinstance(value, float) and value != value else value


def test_api_report_and_prometheus_agree_and_pages_follow_outages(start_lab, tmp_path) -> None:
    settings = dataclasses.replace(FAST, districts=True)
    run = start_lab(settings, go=False)
    t_window = time.time()
    window = (t_window + 20, t_window + 80)  # covers the first outage, started after start-up
    _configure(run, window)
    run.start_all()
    watched = {s.id for s in DEMO_SITES}
    wait_until(
        lambda: {st for s, st in site_states(run).items() if s in watched} == {"up"},
        40,
        what="every watched site up",
    )
    assert site_states(run)[UNSEEN] == "unknown"
    prom = _prometheus(run)
    pages = AlertLog(run, prom)
    try:
        # 1. An outage inside the maintenance window (it neither counts nor pages).
        wait_until(lambda: time.time() > window[0] + 1, 40, what="the maintenance window")
        text = collector_metrics(run)
        assert (
            metric(text, "pantau_maintenance_active", site=MAINT_SITE, district="64.71.04.1002")
            == 1
        )
        _cut_until(run, MAINT_SITE)
        assert time.time() < window[1], "the maintenance outage must end inside its window"
        # 2. An outage outside any window: it pages, the page follows the collector.
        _cut_until(run, OUTSIDE_SITE, page_wait=3)
        # 3. A flapping site.
        for _ in range(3):
            _cut_until(run, FLAP_SITE)
        # 4. An isolated agent: its views are ignored, no outage opens.
        before = len(outages(run))
        run.lab.cut("agent1", "gw")
        wait_until(
            lambda: (
                metric(collector_metrics(run), "pantau_collector_agent_up", agent="agent1") == 0
            ),
            15,
            what="agent1 cut off",
        )
        time.sleep(4)
        run.lab.restore("agent1", "gw")
        wait_until(
            lambda: (
                metric(collector_metrics(run), "pantau_collector_agent_up", agent="agent1") == 1
            ),
            15,
            what="agent1 back",
        )
        time.sleep(2)
        assert len(outages(run)) == before, "an isolated agent opened an outage"
        # 5. A down parent: the BTS pages, the hotspot behind it is unreachable and does not.
        run.lab.kill(PARENT)
        wait_state(run, PARENT, "down")
        wait_until(
            lambda: any(o["site"] == CHILD and o["open"] for o in outages(run)), 20,
            what="the hotspot's outage",
        )  # fmt: skip
        time.sleep(3)
        run.lab.revive(PARENT)
        wait_state(run, PARENT, "up")
        wait_state(run, CHILD, "up")
        time.sleep(3)  # a few scrapes and evaluations past the last change
    finally:
        fired = pages.stop()
    t1 = time.time()

    # ---- pages = outages opened (minus maintenance and unreachable) ---------------------------
    opened = outages(run)
    by_site: dict[str, list[dict]] = {}
    for o in opened:
        by_site.setdefault(o["site"], []).append(o)
    assert {o["cause"] for o in by_site[CHILD]} == {"unreachable"}
    assert UNSEEN not in by_site
    paging = {
        s
        for s, outs in by_site.items()
        for o in outs
        if o["cause"] != "unreachable"
        and not (s == MAINT_SITE and window[0] <= parse_time(o["start"]) <= window[1])
    }
    assert paging == {OUTSIDE_SITE, FLAP_SITE, PARENT}, by_site
    assert {site for _, site, _ in fired} == paging, fired
    assert {source for *_, source in fired} == {"collector"}, "the fallback paged a live collector"

    # ---- the report's CSV = the API, to the bit -------------------------------------------------
    report = _report(run, tmp_path / "report")
    period = report["period"].iloc[0]
    api = run.get_json(
        f"{run.files.collector_url}/api/v1/availability"
        f"?from={float(period['start_unix'])!r}&to={float(period['data_to_unix'])!r}"
    )
    sites = report["sites"].set_index("site")
    fields = {
        "availability": "ratio",
        "up_s": "up_seconds",
        "downtime_s": "down_seconds",
        "unreachable_s": "unreachable_seconds",
        "maintenance_s": "maintenance_seconds",
        "unknown_s": "unknown_seconds",
    }
    for site, figures in api["sites"].items():
        for column, key in fields.items():
            assert _nan_none(sites.loc[site, column]) == figures[key], (site, column, figures)
    assert api["sites"][UNSEEN]["ratio"] is None and pd.isna(sites.loc[UNSEEN, "availability"])
    assert api["sites"][MAINT_SITE]["down_seconds"] == 0
    in_window = min(window[1], float(period["data_to_unix"])) - window[0]
    assert api["sites"][MAINT_SITE]["maintenance_seconds"] == pytest.approx(in_window)
    assert api["sites"][CHILD]["unreachable_seconds"] > 0
    districts = report["districts"].set_index("district")
    for district, figures in api["districts"].items():
        assert _nan_none(districts.loc[district, "availability_ratio"]) == figures["ratio"]
        assert _nan_none(districts.loc[district, "data_ratio"]) == figures["data_ratio"]
    assert sites.loc[UNSEEN, "district"] == UNSEEN_DISTRICT  # from its coordinates

    # ---- PromQL over the recording rules, within one evaluation interval per change -----------
    t0 = window[0] - 5
    span = int(t1 - t0)
    api = run.get_json(
        f"{run.files.collector_url}/api/v1/availability?from={t1 - span!r}&to={t1!r}"
    )
    for site in {s.id for s in DEMO_SITES}:
        q = (
            f"(1 - avg_over_time(site:pantau_site_up:decided{{site='{site}'}}[{span}s]))"
            f" * count_over_time(site:pantau_site_up:decided{{site='{site}'}}[{span}s])"
        )
        result = _query(run, prom, q, t1)
        prom_down = float(result[0]["value"][1]) if result else 0.0  # 1 s evaluation interval
        changes = 2 * len(by_site.get(site, ()))
        tolerance = 1.5 * (changes + 1)
        got = api["sites"][site]["down_seconds"]
        assert abs(prom_down - got) <= tolerance, (site, prom_down, got, tolerance)
    unseen = run.get_json(
        f"{prom}/api/v1/query?query=site:pantau_site_up:decided{{site='{UNSEEN}'}}"
    )
    assert unseen["data"]["result"] == [], "no data must have no series, never a fake value"
