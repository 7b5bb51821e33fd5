"""The monthly report as a reader gets it: PDF text and pages (pdftotext), figures, languages."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from geo_layouts import SHARED_GEO

from pantau.cli import main
from pantau.config import load_config
from pantau.geo import reportfmt as fmt
from pantau.geo.cli import parse_month, run_analysis
from pantau.geo.mapfigure import class_edges
from pantau.geo.progress import null_progress
from pantau.geo.report import report_tables
from pantau.geo.reportstrings import STRINGS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE, STATE = ROOT / "config.example.toml", ROOT / "examples" / "state.json"
HEADINGS_ID = (
    "Laporan Bulanan Infrastruktur Jaringan",
    "Ringkasan",
    "Cakupan pengawasan infrastruktur",
    "Ketersediaan kantor pemerintah",
    "Peta: Rasio blankspot per wilayah",
    "Ketersediaan per kantor",
    "Per wilayah",
    "Daftar gangguan",
    "Lampiran: definisi dan sumber data",
)


def _pdftotext(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (Debian package poppler-utils, see .ci/install-deps)")
    run = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    return " ".join(run.stdout.split())  # one space for every run of blanks and line breaks


def _pages(pdf: Path) -> list[str]:
    run = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    return [" ".join(p.split()) for p in run.stdout.split("\f")[:-1]]


def _report(out: Path, *extra: str, config: Path = EXAMPLE, month: str = "2026-11") -> None:
    argv = ["report", "--config", str(config), "--out", str(out), "--state", str(STATE)]
    assert main([*argv, "--month", month, *extra]) == 0


def _pct(ratio: float, decimals: int = 2) -> str:
    """Bahasa percentage written out here, independently of the report's formatter."""
    return f"{100 * ratio:.{decimals}f}".replace(".", ",") + " %"


def _hm(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} j {minutes % 60:02d} m"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    _report(out)
    return out


@pytest.fixture(scope="module")
def computed():
    """The same month computed directly, as the figures' one implementation gives them: the
    report's tables (:func:`report_tables`) over the analysis of November in WITA."""
    config = load_config(EXAMPLE)
    start, end = parse_month("2026-11", config.report.zone)
    analysis = run_analysis(config, STATE, end, start, end, historical=True, period=True,
                            progress=null_progress)  # fmt: skip
    return analysis, report_tables(analysis, config.report.zone)


def test_pdf_has_bahasa_headings_and_nine_a4_pages(example):
    text = _pdftotext(example / "report.pdf")
    for heading in HEADINGS_ID:
        assert heading in text, heading
    pages = _pages(example / "report.pdf")
    # cover, summary, 3 maps, offices, districts, outages, appendix
    assert len(pages) == 9
    assert "Halaman" not in pages[0] and "Halaman 2 dari 9" in pages[1]
    info = subprocess.run(["pdfinfo", str(example / "report.pdf")], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info), info


def test_pdf_cover_names_region_period_in_wita_and_when_made(example):
    cover = _pages(example / "report.pdf")[0]
    assert "Kota Balikpapan" in cover and "November 2026" in cover
    # [report] timezone = Asia/Makassar: the month starts at 00:00 WITA on the 1st.
    assert "1 November 2026 00:00 WITA – 1 Desember 2026 00:00 WITA" in cover
    assert re.search(r"Dibuat \d{1,2} \w+ 20\d\d \d\d:\d\d WITA", cover)


def test_pdf_summary_figures_equal_the_computation(example, computed):
    analysis, tables = computed
    summary = _pages(example / "report.pdf")[1]
    sites = tables.sites
    offices = sites[sites["kind"] == "office"]
    overall = analysis.supervision.set_index(["district", "kind"]).loc[("ALL", "all")]
    coverage = overall["supervised"] / overall["registered"]
    d = tables.districts
    blank = (d["mean_blankspot_ratio"] * d["target_area_km2"]).sum()
    supervised, registered = int(overall["supervised"]), int(overall["registered"])
    # Offices: their seconds summed, as a district's figure is (time-weighted).
    office_ratio = offices["up_s"].sum() / offices["observed_s"].sum()
    # The cards stand two by two, so pdftotext reads a row's labels before its figures.
    assert "Cakupan pengawasan infrastruktur Ketersediaan kantor pemerintah" in summary
    assert f"{_pct(coverage, 1)} {_pct(office_ratio)}" in summary
    assert f"{supervised} dari {registered} situs terdaftar diawasi" in summary
    # Downtime: the sites' downtime outside maintenance, up to where the data reach.
    n, down = len(tables.outages), _hm(sites["downtime_s"].sum())
    assert re.search(rf"Gangguan Luas blankspot \(rata-rata periode\) {n} [\d.,]+ km²", summary)
    assert f"total waktu mati {down}" in summary
    assert f"{blank:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") in summary
    # October has no observation in the example: the trend says so instead of a number.
    assert "bulan lalu: tidak ada data" in summary


def test_pdf_office_table_rows_equal_the_computation(example, computed):
    _, tables = computed
    text = _pdftotext(example / "report.pdf")
    names = tables.districts.set_index("district")["name"]
    out = tables.outages
    longest = (out["duration_s"] - out["maintenance_s"]).groupby(out["site"]).max()
    for row in tables.offices.itertuples():
        cells = [row.name, names[row.district], _pct(row.availability), _hm(row.downtime_s),
                 str(row.outages), _hm(longest.get(row.site, 0.0))]  # fmt: skip
        assert " ".join(cells) in text, cells
    # kantor-walikota: 2 h 30 min down in the observed part of November (1 November 00:00 WITA
    # to 20 November 20:00 WITA, 476 h; the rest has no data and counts neither way).
    assert f"Kantor Wali Kota Balikpapan Kelurahan Contoh 2 {_pct(1 - 2.5 / 476)}" in text
    assert "Kantor Wali Kota Balikpapan Kelurahan Contoh 2 99,47 % 2 j 30 m 1 2 j 30 m" in text


def test_pdf_outage_list_and_appendix(example, computed):
    _, tables = computed
    pages = _pages(example / "report.pdf")
    outages = pages[7]
    assert "Mulai (WITA)" in outages and "masih berlangsung" in outages
    assert outages.count("Kelurahan Contoh") >= len(tables.outages)
    # An open outage is known up to where the data reach (20 November 20:00 WITA), as downtime.
    assert "BTS Manggar Kelurahan Contoh 9 mati 2026-11-20 06:10 masih berlangsung 13 j 50 m" in (
        outages
    )
    appendix = pages[8]
    for term in ("Cakupan pengawasan infrastruktur", "Ketersediaan", "Luas blankspot",
                 "Celah data", "Versi pantau", "pantau 0.1.0"):  # fmt: skip
        assert term in appendix, term
    digests = re.findall(r"\b[0-9a-f]{16}\b", appendix)
    assert len(digests) == 2 and digests[0] != digests[1]
    # The example's data stop on 20 November: the appendix says so, and which sites had none.
    assert "Data sampai 20 November 2026 20:00 WITA" in appendix
    for row in tables.gaps.itertuples():
        assert row.name in appendix


def test_html_page_is_the_same_document_and_offline(example):
    page = (example / "report.html").read_text()
    assert '<html lang="id">' in page
    for heading in HEADINGS_ID:
        assert heading in page
    assert not re.search(r"https?://", page)
    assert page.count("data:image/png;base64,") == 3 and "<iframe" in page


def test_english_report_on_request(tmp_path):
    _report(tmp_path, "--lang", "en")
    text = _pdftotext(tmp_path / "report.pdf")
    for heading in ("Monthly Network Infrastructure Report", "Summary", "Availability per office",
                    "Appendix: definitions and data sources", "99.47 %", "2 h 30 min"):  # fmt: skip
        assert heading in text, heading
    assert "Ringkasan" not in text


def test_a_month_without_data_says_so_never_100_percent(tmp_path):
    _report(tmp_path, month="2026-09")  # the example state has nothing before November
    summary = _pages(tmp_path / "report.pdf")[1]
    # No site observed: none supervised (0 of 8), and no availability: said in words.
    cards = "Cakupan pengawasan infrastruktur Ketersediaan kantor pemerintah"
    assert f"{cards} 0,0 % tidak ada data" in summary
    assert "0 dari 8 situs terdaftar diawasi" in summary
    # Nor "0 outages": without observation nothing can be said of outages either.
    assert "Gangguan Luas blankspot (rata-rata periode) tidak ada data tidak ada data" in summary
    assert "100,0" not in summary
    assert "Tidak ada data: tidak ada situs yang teramati dalam periode ini" in summary
    assert "1 September 2026 00:00 WITA" in _pages(tmp_path / "report.pdf")[0]
    appendix = _pages(tmp_path / "report.pdf")[-1]
    assert "Sepanjang periode: tidak ada pengamatan dari situs mana pun." in appendix
    offices = _pages(tmp_path / "report.pdf")[5]
    assert "100,00 %" not in offices and "tidak ada data" in offices
    # Nor do its maps colour a district as covered: every district is hatched "no data".
    from matplotlib import colormaps
    from PIL import Image

    pixels = (
        np.asarray(Image.open(tmp_path / "report-maps" / "supervision_coverage.png").convert("RGB"))
        .reshape(-1, 3)
        .astype(int)
    )
    for shade in (0.25, 0.6, 0.95):  # any class colour of the supervision ramp
        rgb = np.array(colormaps["Blues"](shade)[:3]) * 255
        assert (np.abs(pixels - rgb).max(axis=1) < 6).sum() < 50, shade


@pytest.mark.skipif(not SHARED_GEO.is_dir(), reason=f"shared layers not found at {SHARED_GEO} "
                    "(real boundaries of cahyadsn/wilayah_boundaries, see its README)")  # fmt: skip
def test_report_on_real_balikpapan_kelurahan(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        EXAMPLE.read_text()
        .replace('"examples/districts.geojson"', f"'{SHARED_GEO / 'balikpapan_kelurahan.geojson'}'")
        .replace('"examples/sites.csv"', f"'{ROOT / 'examples' / 'sites.csv'}'")
    )
    _report(tmp_path / "o", config=config)
    text = _pdftotext(tmp_path / "o" / "report.pdf")
    # A kelurahan layer (codes PP.KK.CC.DDDD): the tables say Kelurahan and list all 34.
    assert "Kode Kelurahan Situs terdaftar" in text
    assert len(set(re.findall(r"64\.71\.\d\d\.\d{4}", text))) == 34
    assert "Kantor Wali Kota Balikpapan" in text


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        (0.996528, "id", "99,65 %"),
        (0.996528, "en", "99.65 %"),
        (None, "id", "tidak ada data"),
        (float("nan"), "en", "no data"),
        (1.0, "id", "100,00 %"),
    ],
    ids=["id", "en", "none-id", "nan-en", "full"],
)
def test_percent(value, lang, expected):
    assert fmt.percent(value, lang) == expected


@pytest.mark.parametrize(
    ("seconds", "lang", "expected"),
    [(9000, "id", "2 j 30 m"), (9000, "en", "2 h 30 min"), (910800, "id", "253 j 00 m"),
     (29, "id", "0 j 00 m"), (None, "id", "tidak ada data")],
    ids=["id", "en", "days-as-hours", "under-a-minute", "none"],
)  # fmt: skip
def test_duration(seconds, lang, expected):
    assert fmt.duration(seconds, lang) == expected


def test_area_and_change_use_the_language_separators():
    assert fmt.area(1234.5, "id") == "1.234,50 km²"
    assert fmt.change(461.21, 450.78, "id") == "+10,43 km² (+2,3 %)"
    assert fmt.change(1.0, None, "id") is None


def test_both_languages_have_every_string():
    assert set(STRINGS["id"]) == set(STRINGS["en"])


@pytest.mark.parametrize(
    ("values", "expected"),
    [([0.991, 0.999], [0.99, 0.992, 0.994, 0.996, 0.998, 1.0]),
     ([0.2, 0.9], [0.2, 0.4, 0.6, 0.8, 1.0]),
     ([1.0, 1.0], [0.95, 1.0]),
     ([0.0, 1.0], [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
     ([np.nan], [0.0, 1.0])],
    ids=["narrow-high", "wide", "one-value", "full-range", "no-data"],
)  # fmt: skip
def test_colour_classes_fit_the_data(values, expected):
    assert class_edges(np.array(values)).tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("body", "message"),
    [('timezone = "WITA"', "report.timezone: 'WITA' is not an IANA time zone; use Asia/Jakarta"),
     ('language = "jv"', "report.language: Input should be 'id' or 'en'"),
     ('colour = "red"', "report.colour: unknown key")],
    ids=["zone", "language", "unknown-key"],
)  # fmt: skip
def test_report_config_is_validated(tmp_path, body, message):
    from pantau.errors import ConfigError

    config = tmp_path / "c.toml"
    config.write_text(f"[report]\n{body}\n")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert message in str(err.value), str(err.value)


def test_example_config_reports_in_bahasa_for_balikpapan_in_wita():
    report = load_config(EXAMPLE).report
    assert (report.language, report.timezone, report.region) == (
        "id", "Asia/Makassar", "Kota Balikpapan")  # fmt: skip
