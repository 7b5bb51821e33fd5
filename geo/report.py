"""The monthly report: ``report.pdf`` (A4), ``report.html`` (the same document) and CSV tables.

The figures come from the analysis (:mod:`pantau.geo.analysis`), gathered into plain tables by
:mod:`pantau.geo.reportdata`; the document is laid out by :mod:`pantau.geo.reportdoc` and printed
by :mod:`pantau.geo.reportpdf`; the maps are drawn by :mod:`pantau.geo.render`. Nothing needs the
network to open: images are inline and the interactive map is the offline ``map.html``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pandas as pd

from pantau.events import format_time
from pantau.geo.htmlmap import render_html_map
from pantau.geo.progress import Progress, null_progress
from pantau.geo.render import MAP_SIZES, write_all, write_png
from pantau.geo.reportdata import Provenance, as_observed, report_data
from pantau.geo.reportdoc import REPORT_MAPS, render_document
from pantau.geo.reportpdf import write_pdf

if TYPE_CHECKING:
    from pathlib import Path

    from pantau.geo.analysis import Analysis


def office_table(analysis: Analysis) -> pd.DataFrame:
    """Availability per office over the period (offices without probes show no figure)."""
    sites = analysis.sites
    offices = sites[sites["kind"] == "office"]
    cols = ["site", "name", "district", "state", "availability", "downtime_s", "outages"]
    return offices[cols].sort_values(["availability", "site"], na_position="last")


def district_table(analysis: Analysis) -> pd.DataFrame:
    """Supervision coverage and blankspots per district, worst blankspot first."""
    frame = analysis.districts.drop(columns="geometry")
    return frame.sort_values(["blankspot_ratio", "district"], ascending=[False, True])


def outage_table(analysis: Analysis) -> pd.DataFrame:
    """The period's outages with times as RFC 3339 text (open outages have no end)."""
    frame = analysis.outages.copy()
    for col in ("start", "end"):
        frame[col] = [format_time(t) if t == t else "" for t in frame[col]]
    cols = ["site", "name", "kind", "district", "cause", "start", "end", "duration_s"]
    return frame[cols]


def write_report(
    analysis: Analysis,
    out: Path,
    provenance: Provenance,
    *,
    lang: str,
    now: float,
    previous: Analysis | None = None,
    progress: Progress = null_progress,
) -> list[Path]:
    """Write ``report.pdf``, ``report.html``, the CSV tables and the map files into ``out``."""
    zone = provenance.timezone
    paths = write_all(analysis, out, lang=lang, zone=zone, progress=progress)
    tables = {
        "offices": office_table(analysis),
        "districts": district_table(analysis),
        "outages": outage_table(analysis),
    }
    for name, table in tables.items():
        path = out / f"{name}.csv"
        table.to_csv(path, index=False, float_format="%.6g")
        paths.append(path)
    data = report_data(analysis, provenance, now=now, previous=previous)
    drawn = as_observed(analysis, now)
    pages = out / "report-maps"
    pages.mkdir(exist_ok=True)
    maps = {
        stem: write_png(
            drawn, stem, pages / f"{stem}.png", size=MAP_SIZES["page"], lang=lang, zone=zone
        )
        for stem in REPORT_MAPS
    }
    data = dataclasses.replace(data, maps=maps)
    page = render_html_map(drawn, title=provenance.region or "pantau", lang=lang, zone=zone)
    html_path = out / "report.html"
    html_path.write_text(render_document(data, lang, interactive_map=page), encoding="utf-8")
    pdf = write_pdf(render_document(data, lang), out / "report.pdf")
    paths += [*maps.values(), html_path, pdf]
    return paths
