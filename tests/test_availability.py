"""The one availability definition (docs/contracts.md, "How availability is computed"), by rule.

Pure figures from hand-made timelines whose answers are known, then the same rules through
``pantau report`` and ``pantau check-config`` on small configs written here.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from pantau.collector.availability import (
    Maintenance,
    SiteKey,
    figures,
    site_windows,
    timeline_availability,
)

ROOT = Path(__file__).resolve().parents[1]
WITA = ZoneInfo("Asia/Makassar")


@pytest.mark.parametrize(
    ("timeline", "windows", "expected"),
    [
        # (up, down, unreachable-part, maintenance, unknown) over [0, 100)
        (((0, "up"),), (), (100, 0, 0, 0, 0)),
        (((20, "up"), (60, "down")), (), (40, 40, 0, 0, 20)),
        (((0, "up"), (50, "unknown")), (), (50, 0, 0, 0, 50)),
        (((0, "down"),), ((10, 30), (25, 40)), (0, 70, 0, 30, 0)),
        ((), (), (0, 0, 0, 0, 100)),
        (((0, "unknown"), (90, "up")), ((0, 100),), (0, 0, 0, 100, 0)),
    ],
    ids=["up", "unknown-before-first", "unknown-later", "maintenance-merged", "never", "all-maint"],
)
def test_each_second_is_exactly_one_kind(timeline, windows, expected):
    a = timeline_availability(timeline, 0, 100, windows)
    got = (a.up_seconds, a.down_seconds, a.unreachable_seconds, a.maintenance_seconds)
    assert (*got, a.unknown_seconds) == expected
    assert a.period_seconds == 100 == sum(expected) - expected[2]


def test_no_data_is_no_figure_never_a_good_one():
    a = timeline_availability((), 0, 100)
    assert a.ratio is None and a.data_ratio == 0.0
    maint = timeline_availability(((0, "down"),), 0, 100, [(0, 100)])
    assert maint.ratio is None and maint.data_ratio is None


def test_unreachable_counts_down_and_is_kept_apart():
    parent = ((0, "up"), (30, "down"), (50, "up"))
    child = ((0, "up"), (30, "down"), (60, "up"))
    a = timeline_availability(child, 0, 100, parent=parent)
    assert (a.down_seconds, a.unreachable_seconds, a.ratio) == (30, 20, 0.7)


def test_district_is_time_weighted_over_its_sites_and_says_how_much_had_data():
    timelines = {"a": ((0, "up"), (90, "down")), "b": ((80, "down"),), "c": ()}
    sites = [SiteKey("a", "d1"), SiteKey("b", "d1"), SiteKey("c", "d1"), SiteKey("x")]
    windows = site_windows([Maintenance(0, 50, site="c")], sites)
    per_site, per_district = figures(timelines, sites, 0, 100, windows)
    d1 = per_district["d1"]
    assert (d1.up_seconds, d1.down_seconds) == (90, 30)
    assert d1.ratio == pytest.approx(0.75)  # not the mean of 0.9 and 0.0
    assert d1.data_ratio == pytest.approx(120 / 250)  # c: 50 s of its 100 in maintenance
    assert per_site["c"].ratio is None and "x" in per_site and set(per_district) == {"d1"}


def test_a_period_still_running_counts_only_up_to_now():
    from pantau.collector.availability import availability
    from pantau.collector.outages import Decision

    decision = Decision({"s": ((0.0, "down"),)}, {}, {"s": None})
    sites = [SiteKey("s", "d")]
    per_site, _ = availability(decision, sites, 0, 30 * 86400, now=40)
    assert (per_site["s"].down_seconds, per_site["s"].period_seconds) == (40, 40)
    assert per_site["s"].ratio == 0.0


def test_a_window_covers_its_site_its_district_or_everything():
    key = SiteKey("s", "d1")
    assert Maintenance(0, 1, site="s").covers(key)
    assert Maintenance(0, 1, district="d1").covers(key)
    assert Maintenance(0, 1).covers(key)
    assert not Maintenance(0, 1, district="d2").covers(key)
    assert not Maintenance(0, 1, site="t").covers(key)


# ------------------------------------------------------------------------- pantau report


def _config(tmp: Path, *, timezone: str = "Asia/Makassar", maintenance: str = "") -> Path:
    sites = tmp / "sites.csv"
    sites.write_text(
        "id,name,kind,lat,lon,address,probes,parent,coverage_m,district\n"
        "kantor-a,Kantor A,office,-1.2765,116.8280,127.0.0.2,icmp,,,\n"
        "kantor-b,Kantor B,office,-1.2654,116.8647,127.0.0.3,icmp,,,\n"
    )
    path = tmp / "pantau.toml"
    path.write_text(
        f'[geo]\ndistricts = "{ROOT}/examples/districts.geojson"\n'
        f'[report]\ntimezone = "{timezone}"\n'
        f'[inventory]\nsites = ["{sites}"]\n{maintenance}'
    )
    return path


def _report(tmp: Path, config: Path, state: dict, month: str) -> Path:
    from pantau.cli import main

    path = tmp / "state.json"
    path.write_text(json.dumps(state))
    out = tmp / "report"
    assert main(["report", "--config", str(config), "--out", str(out), "--state", str(path),
                 "--month", month]) == 0  # fmt: skip
    return out


def _t(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_report_over_a_month_without_data_says_so(tmp_path):
    config = _config(tmp_path)
    out = _report(tmp_path, config, {"sites": [], "outages": [], "timelines": {}}, "2026-10")
    offices = pd.read_csv(out / "offices.csv")
    assert offices["availability"].isna().all() and (offices["observed_s"] == 0).all()
    # The document (Bahasa by default) says so in words; none of 2 sites was supervised.
    html = (out / "report.html").read_text()
    assert "Tidak ada data: tidak ada situs yang teramati dalam periode ini" in html
    assert "100,0" not in html and "0 dari 2 situs terdaftar diawasi" in html


def test_wita_report_starts_at_midnight_wita_on_the_first(tmp_path):
    config = _config(tmp_path)
    first = _t("2026-11-01T00:00:00+08:00")
    state = {
        "now": "2026-12-01T12:00:00Z",
        "sites": [],
        "outages": [
            # 23:30 WITA on 31 October: October's, not November's.
            {"site": "kantor-a", "start": "2026-10-31T15:30:00Z", "end": "2026-10-31T15:45:00Z"},
            # 00:30 WITA on 1 November: the first hour of November in Balikpapan.
            {"site": "kantor-a", "start": "2026-10-31T16:30:00Z", "end": "2026-10-31T17:00:00Z"},
        ],
        "timelines": {
            "kantor-a": [
                ["2026-10-31T15:00:00Z", "up"],
                ["2026-10-31T15:30:00Z", "down"],
                ["2026-10-31T15:45:00Z", "up"],
                ["2026-10-31T16:30:00Z", "down"],
                ["2026-10-31T17:00:00Z", "up"],
            ]
        },
    }
    out = _report(tmp_path, config, state, "2026-11")
    outages = pd.read_csv(out / "outages.csv")
    assert outages["start"].tolist() == ["2026-11-01T00:30:00+08:00"]
    offices = pd.read_csv(out / "offices.csv").set_index("site")
    month = _t("2026-12-01T00:00:00+08:00") - first
    assert offices.loc["kantor-a", "downtime_s"] == 1800
    assert offices.loc["kantor-a", "observed_s"] == month
    assert offices.loc["kantor-a", "availability"] == pytest.approx(1 - 1800 / month, abs=1e-6)
    assert pd.isna(offices.loc["kantor-b", "availability"])  # never observed: no figure
    html = (out / "report.html").read_text()
    assert "1 November 2026 00:00 WITA – 1 Desember 2026 00:00 WITA" in html


def test_report_outage_duration_leaves_out_time_when_no_agent_could_vote(tmp_path):
    config = _config(tmp_path)
    state = {
        "now": "2026-11-05T00:00:00+08:00",
        "sites": [],
        "outages": [{"site": "kantor-a", "start": "2026-11-03T09:00:00+08:00",
                     "end": "2026-11-03T12:00:00+08:00"}],
        "timelines": {"kantor-a": [["2026-11-03T00:00:00+08:00", "up"],
                                   ["2026-11-03T09:00:00+08:00", "down"],
                                   ["2026-11-03T10:00:00+08:00", "unknown"],
                                   ["2026-11-03T11:00:00+08:00", "down"],
                                   ["2026-11-03T12:00:00+08:00", "up"]]},
    }  # fmt: skip
    out = _report(tmp_path, config, state, "2026-11")
    office = pd.read_csv(out / "offices.csv").set_index("site").loc["kantor-a"]
    assert office["downtime_s"] == 2 * 3600 and office["unknown_s"] == 2 * 86400 + 3600
    (outage,) = pd.read_csv(out / "outages.csv").itertuples()
    assert outage.duration_s == 2 * 3600  # the hour nobody could see is not outage time


def test_report_excludes_maintenance_and_counts_only_observed_time(tmp_path):
    window = (
        "[[collector.maintenance]]\nstart = 2026-11-03T09:00:00+08:00\n"
        'end = 2026-11-03T12:00:00+08:00\nsite = "kantor-a"\n'
    )
    config = _config(tmp_path, maintenance=window)
    state = {
        "now": "2026-11-05T00:00:00+08:00",  # the month is in progress: data end here
        "sites": [],
        "outages": [{"site": "kantor-a", "start": "2026-11-03T09:30:00+08:00",
                     "end": "2026-11-03T12:00:00+08:00"}],
        "timelines": {"kantor-a": [["2026-11-03T00:00:00+08:00", "up"],
                                   ["2026-11-03T09:30:00+08:00", "down"],
                                   ["2026-11-03T12:00:00+08:00", "up"]]},
    }  # fmt: skip
    out = _report(tmp_path, config, state, "2026-11")
    office = pd.read_csv(out / "offices.csv").set_index("site").loc["kantor-a"]
    assert office["availability"] == 1.0 and office["downtime_s"] == 0
    assert office["maintenance_s"] == 3 * 3600
    assert office["observed_s"] == 2 * 86400 - 3 * 3600
    assert office["unknown_s"] == 2 * 86400  # 1-2 November: no data, not up
    outage = pd.read_csv(out / "outages.csv").iloc[0]
    assert outage["maintenance_s"] == outage["duration_s"] == 2.5 * 3600
    gaps = pd.read_csv(out / "gaps.csv")
    assert set(gaps["site"]) == {"kantor-a", "kantor-b"}


# -------------------------------------------------------------------- pantau check-config


def test_check_config_refuses_windows_naming_unknown_sites_or_districts(tmp_path):
    from pantau.config import check_config

    windows = "".join(
        f"[[collector.maintenance]]\nstart = 2026-12-06T22:00:00+08:00\n"
        f'end = 2026-12-07T02:00:00+08:00\n{key} = "{value}"\n'
        for key, value in [
            ("site", "kantor-x"),
            ("district", "64.71.99.9999"),
            ("site", "kantor-a"),
            ("district", "00.01.01.1012"),  # in the layer, though no site declares it
        ]
    )
    _, problems = check_config(_config(tmp_path, maintenance=windows))
    assert len(problems) == 2, problems
    assert "collector.maintenance.0.site: 'kantor-x' is not a site of the inventory" in problems[0]
    assert "collector.maintenance.1.district: '64.71.99.9999' is no district" in problems[1]


def test_example_config_checks_clean_and_names_districts_everywhere(monkeypatch):
    from test_config import EXAMPLE_SECRETS

    from pantau.config import check_config

    for name, value in EXAMPLE_SECRETS.items():  # check-config fails while they are unset
        monkeypatch.setenv(name, value)
    config, problems = check_config(ROOT / "config.example.toml")
    assert problems == [] and config is not None
    assert config.report.timezone == "Asia/Makassar"
    assert all(s.district for s in config.load_sites().sites)


def test_report_timezone_must_be_an_iana_zone(tmp_path):
    from pantau.config import load_config
    from pantau.errors import ConfigError

    with pytest.raises(ConfigError, match=r"report.timezone: 'WITA' is not an IANA time zone"):
        load_config(_config(tmp_path, timezone="WITA"))


def test_spans_without_data_are_found_for_coverage_too():
    from pantau.collector.availability import unknown_spans

    timeline = ((20.0, "up"), (40.0, "unknown"), (60.0, "down"))
    assert unknown_spans(timeline, 0, 100) == [(0, 20), (40, 60)]
    assert unknown_spans((), 0, 100) == [(0, 100)]
    assert unknown_spans(((0.0, "up"),), 0, 100) == []
