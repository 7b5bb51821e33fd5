"""Map outputs: GeoPackage, GeoJSON, PNG, the offline HTML map in headless Chromium, the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
from geo_layouts import SHARED_GEO, SHARED_GEO_MISSING, districts, local_to_lonlat, site, sites
from shapely import box

from pantau.cli import main
from pantau.config import GeoConfig
from pantau.geo.analysis import analyse
from pantau.geo.render import write_all
from pantau.geo.sources import observations_from_records

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LON, LAT = 116.85, -1.25
T0, T1 = 1_700_000_000.0, 1_700_000_000.0 + 10 * 3600


def _square(dx):
    return local_to_lonlat(LON, LAT, box(dx - 1000, -1000, dx + 1000, 1000))


@pytest.fixture(scope="module")
def analysis():
    d = districts([("64.1", _square(0)), ("64.2", _square(2000)), ("64.3", _square(4000))])
    s = sites(
        site("h1", LON, LAT, coverage_m=500, address="127.0.0.1", probes=("icmp",)),
        site("h2", LON + 0.018, LAT, coverage_m=500, address="127.0.0.1", probes=("icmp",)),
        site("o3", LON + 0.036, LAT, kind="office"),  # registered, no probe
    )
    obs = observations_from_records(
        [{"site": "h1", "state": "up", "last_result": T1 - 10},
         {"site": "h2", "state": "down", "last_result": T1 - 10}],
        [{"site": "h2", "start": T0 + 3600, "end": None}],
        "test",
    )  # fmt: skip
    # Availability comes from the decided timelines only (no timeline: no figure).
    timelines = {"h1": ((T0, "up"),), "h2": ((T0, "up"), (T0 + 3600, "down"))}
    obs = dataclasses.replace(obs, timelines=timelines, now=T1)
    return analyse(d, s, obs, GeoConfig(), at=T1, start=T0, end=T1)


def test_analysis_figures_by_hand(analysis):
    d = analysis.districts.set_index("district")
    circle = np.pi * 0.25
    assert d.loc["64.1", "blankspot_km2"] == pytest.approx(4 - circle, rel=0.005)
    assert d.loc["64.2", "blankspot_km2"] == pytest.approx(4, rel=0.005)  # h2 is down
    assert d.loc["64.2", "blankspot_flag"] and d.loc["64.3", "blankspot_flag"]
    assert d.loc["64.1", "supervision_coverage_ratio"] == 1.0
    assert d.loc["64.3", "supervision_coverage_ratio"] == 0.0
    assert d.loc["64.2", "availability_ratio"] == pytest.approx(0.1)  # up 1 h of 10
    assert np.isnan(d.loc["64.3", "availability_ratio"])  # nothing watched there
    assert d.loc["64.2", "blankspot_km2h"] == pytest.approx(40 - circle, rel=0.005)
    assert d.loc["64.2", "coverage_availability"] == pytest.approx(0.1, rel=0.005)


@pytest.fixture(scope="module")
def written(analysis, tmp_path_factory):
    out = tmp_path_factory.mktemp("map")
    write_all(analysis, out)
    return out


def test_geopackage_layers_and_columns(written):
    names = {str(n) for n, _ in pyogrio.list_layers(written / "pantau-geo.gpkg")}
    assert names == {"districts", "sites", "coverage", "blankspots"}
    d = pyogrio.read_dataframe(written / "pantau-geo.gpkg", layer="districts")
    assert {"blankspot_ratio", "supervision_coverage_ratio", "availability_ratio"} <= set(d.columns)
    s = pyogrio.read_dataframe(written / "pantau-geo.gpkg", layer="sites").set_index("site")
    assert s.loc["h2", "state"] == "down" and s.loc["h2", "district"] == "64.2"
    cov = pyogrio.read_dataframe(written / "pantau-geo.gpkg", layer="coverage")
    assert cov["district"].tolist() == ["64.1"]


def test_geojson_keyed_by_district_for_grafana(written):
    data = json.loads((written / "districts.geojson").read_text())
    ids = [f["id"] for f in data["features"]]
    assert ids == ["64.1", "64.2", "64.3"]
    props = data["features"][2]["properties"]
    assert props["availability_ratio"] is None and props["blankspot_flag"] is True
    assert "crs" not in data or "4326" in json.dumps(data["crs"]) or "CRS84" in json.dumps(data)


def test_summary_csv(written):
    frame = pd.read_csv(written / "summary.csv", dtype={"district": str})
    assert frame["district"].tolist() == ["64.1", "64.2", "64.3"]
    assert frame["sites_registered"].tolist() == [1, 1, 1]


def test_png_maps_at_projector_size_with_down_sites_in_red(written):
    from PIL import Image

    for stem in ("blankspot_ratio", "supervision_coverage", "availability"):
        img = Image.open(written / f"{stem}.png").convert("RGB")
        assert img.size == (1920, 1080)
        pixels = np.asarray(img).reshape(-1, 3).astype(int)
        assert len(np.unique(pixels, axis=0)) > 50  # not blank: map, legend, text
        # h2 is down: its red triangle (#e31a1c) is there, and no district is red.
        red = (
            (abs(pixels[:, 0] - 0xE3) < 12) & (pixels[:, 1] < 50) & (abs(pixels[:, 2] - 0x1C) < 20)
        )
        assert red.sum() > 150, stem


def test_png_map_at_report_page_size(analysis, tmp_path):
    from PIL import Image

    from pantau.geo.mapfigure import MAP_SIZES
    from pantau.geo.render import write_png

    path = write_png(analysis, "availability", tmp_path / "a.png", size=MAP_SIZES["page"])
    width, height = Image.open(path).size
    # A4 text width at 200 dpi; the height follows the area's shape (three squares in a row).
    assert width == 1400 and 500 < height < 1100


def _chromium(page: Path, *args: str) -> str:
    """Open ``page`` in headless Chromium inside an empty network namespace; return its stdout."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed")
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to cut Chromium off the network")
    profile = tempfile.mkdtemp(prefix=f"pantau-geo-chromium-{os.getpid()}-")
    try:
        run = subprocess.run(
            ["unshare", "--net", CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
             *args, page.as_uri()],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _chromium_dom(page: Path) -> str:
    """The page's DOM after its script ran, loaded without network."""
    return _chromium(page, "--dump-dom")


def _assert_offline_page(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"https?://", text), "the map must not reference any URL"


def _drawn(dom: str) -> tuple[int, int, set[str]]:
    d = int(re.search(r'id="drawn-districts">(\d+)<', dom).group(1))
    s = int(re.search(r'id="drawn-sites">(\d+)<', dom).group(1))
    ids = set(re.findall(r'<path[^>]*data-district="([^"]+)"', dom))
    return d, s, ids


def test_html_map_draws_every_district_offline(written, analysis):
    page = written / "map.html"
    _assert_offline_page(page)
    dom = _chromium_dom(page)
    n, s, ids = _drawn(dom)
    assert (n, s) == (3, 3) and ids == {"64.1", "64.2", "64.3"}
    coverage = int(re.search(r'id="drawn-coverage">(\d+)<', dom).group(1))
    blank = int(re.search(r'id="drawn-blankspots">(\d+)<', dom).group(1))
    assert (coverage, blank) == (len(analysis.coverage), len(analysis.blankspots)) == (1, 3)
    for layer in ("districts", "coverage", "blankspots", "sites"):
        assert re.search(rf'<input type="checkbox" id="layer-{layer}" checked', dom), layer
    assert "mati (1)" in dom and "hidup (1)" in dom and "tidak diketahui (1)" in dom


def _chromium_screenshot(page: Path, out: Path, size: str = "1400,900") -> np.ndarray:
    """A screenshot of ``page`` taken without network, as RGB pixels."""
    from PIL import Image

    _chromium(page, f"--window-size={size}", f"--screenshot={out}")
    return np.asarray(Image.open(out).convert("RGB")).astype(int)


def test_html_map_screenshot_shows_every_layer_offline(written, tmp_path):
    pixels = _chromium_screenshot(written / "map.html", tmp_path / "shot.png")
    r, g, b = pixels.reshape(-1, 3).T
    down = (abs(r - 0xE3) < 10) & (abs(g - 0x1A) < 10) & (abs(b - 0x1C) < 10)
    up = (abs(r - 0x1A) < 10) & (abs(g - 0x98) < 10) & (abs(b - 0x50) < 10)
    coverage = (abs(r - 0xE0) < 10) & (abs(g - 0x82) < 10) & (abs(b - 0x14) < 10)
    assert down.sum() > 200 and up.sum() > 50 and coverage.sum() > 50
    # The down site is drawn larger than the up site: found first.
    assert down.sum() > 2 * up.sum()


def _example(command: str, out: Path, *extra: str) -> int:
    """Run ``pantau COMMAND`` on the example config and example state file."""
    config, state = ROOT / "config.example.toml", ROOT / "examples" / "state.json"
    return main(
        [command, "--config", str(config), "--out", str(out), "--state", str(state), *extra]
    )


def test_cli_map_and_report_on_the_example_config(tmp_path):
    out = tmp_path / "map"
    assert _example("map", out, "--at", "2026-11-20T12:00:00Z") == 0
    summary = pd.read_csv(out / "summary.csv", dtype={"district": str})
    assert len(summary) == 12 and summary["district"].str.startswith("00.01.01.").all()
    sites_gpkg = pyogrio.read_dataframe(out / "pantau-geo.gpkg", layer="sites").set_index("site")
    assert sites_gpkg.loc["bts-manggar", "state"] == "down"  # open outage since 19 Nov 22:10
    assert sites_gpkg.loc["kantor-walikota", "state"] == "up"
    rep = tmp_path / "report"
    code = _example("report", rep, "--month", "2026-11")
    assert code == 0
    offices = pd.read_csv(rep / "offices.csv").set_index("site")
    # 2 h 30 min down in the observed part of November (WITA): 1 Nov 00:00 WITA to 20 Nov 12:00
    # UTC is 476 h; the rest of the month has no data and counts neither way.
    assert offices.loc["kantor-walikota", "availability"] == pytest.approx(1 - 2.5 / 476, rel=1e-6)
    assert offices.loc["kantor-walikota", "observed_s"] == pytest.approx(476 * 3600)
    outages = pd.read_csv(rep / "outages.csv")
    assert len(outages) == 5 and set(outages["cause"]) == {"down", "unreachable"}
    assert outages["start"].str.endswith("+08:00").all()  # [report] timezone = Asia/Makassar
    html = (rep / "report.html").read_text()
    assert "Ketersediaan per kantor" in html and "data:image/png;base64," in html
    assert "Kantor Wali Kota Balikpapan" in html and "<iframe title=" in html
    _assert_offline_page(rep / "report.html")
    n, _, _ = _drawn(_chromium_dom(rep / "map.html"))
    assert n == 12


def test_cli_map_without_state_or_collector_still_draws(tmp_path, capsys):
    # No --state: the collector at [collector] listen is asked; on a port nothing listens on the
    # map is still written with every site unknown.
    config = tmp_path / "c.toml"
    text = (ROOT / "config.example.toml").read_text().replace("127.0.0.1:9470", "127.0.0.1:9")
    config.write_text(text.replace('"examples/', f'"{ROOT}/examples/'))
    assert main(["map", "--config", str(config), "--out", str(tmp_path / "o")]) == 0
    assert "0/8 sites supervised" in capsys.readouterr().out


def test_cli_errors_name_file_and_fix(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[geo]\ndistricts = 'missing.shp'\n")
    assert main(["map", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "missing.shp: districts file not found; fix [geo] districts" in err
    config.write_text("[geo]\n")
    assert main(["map", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "geo.districts: not set" in capsys.readouterr().err
    state = tmp_path / "nope.json"
    assert _example("map", tmp_path / "o", "--state", str(state)) == 2  # the last --state wins
    assert "nope.json: state file not found" in capsys.readouterr().err


@pytest.mark.skipif(not SHARED_GEO.is_dir(), reason=SHARED_GEO_MISSING)
@pytest.mark.parametrize(
    "layer", ["kaltim_kecamatan.geojson", "shp/kaltim_kecamatan/kaltim_kecamatan.shp"]
)
def test_real_kecamatan_map_draws_all_105(tmp_path, layer):
    config = tmp_path / "c.toml"
    config.write_text(
        f"[geo]\ndistricts = '{SHARED_GEO / layer}'\n"
        f"[inventory]\nsites = ['{ROOT}/examples/sites.csv']\n"
    )
    assert main(["map", "--config", str(config), "--out", str(tmp_path / "o"),
                 "--state", str(ROOT / "examples" / "state.json"),
                 "--at", "2026-11-20T12:00:00Z"]) == 0  # fmt: skip
    summary = pd.read_csv(tmp_path / "o" / "summary.csv", dtype={"district": str})
    assert len(summary) == 105
    # The Balikpapan sites sit in Kota Balikpapan's kecamatan (64.71.xx).
    assert summary.loc[summary["sites_registered"] > 0, "district"].str.startswith("64.71").all()
    n, s, ids = _drawn(_chromium_dom(tmp_path / "o" / "map.html"))
    assert n == 105 and len(ids) == 105 and s == 7
