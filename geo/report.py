"""The monthly report: ``report.pdf`` (A4), ``report.html`` (the same document) and CSV tables.

:func:`report_tables` gathers the figures of one analysis (:mod:`pantau.geo.analysis`, the one
implementation) into :class:`ReportTables`; the CSVs are those tables at full precision. The
document shows the same tables: :mod:`pantau.geo.reportdata` adds what only the presentation
needs, :mod:`pantau.geo.reportdoc` lays it out, :mod:`pantau.geo.reportpdf` prints it and
:mod:`pantau.geo.render` draws the maps. Nothing needs the network to open: images are inline and
the interactive map is the offline ``map.html``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd

from pantau.csvsafe import safe_frame
from pantau.geo.htmlmap import render_html_map
from pantau.geo.progress import Progress, null_progress
from pantau.geo.render import MAP_SIZES, local_time, write_all, write_png
from pantau.geo.reportdata import Provenance, report_data, withheld_without_data
from pantau.geo.reportdoc import REPORT_MAPS, render_document
from pantau.geo.reportpdf import write_pdf

if TYPE_CHECKING:
    from pathlib import Path

    from pantau.geo.analysis import Analysis


@dataclasses.dataclass(frozen=True)
class ReportTables:
    """Everything a monthly report states, as plain data (the presentation only lays it out).

    ``summary`` is ``(label, text)`` pairs in reading order; ``offices``, ``districts``,
    ``outages`` and ``gaps`` are the tables; ``has_data`` is False when nothing at all was observed
    in the period (the summary then says so in words instead of giving figures).
    """

    summary: tuple[tuple[str, str], ...]
    period: pd.DataFrame
    sites: pd.DataFrame
    offices: pd.DataFrame
    districts: pd.DataFrame
    outages: pd.DataFrame
    gaps: pd.DataFrame
    zone: str
    has_data: bool

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by CSV name."""
        return {
            "period": self.period,
            "sites": self.sites,
            "offices": self.offices,
            "districts": self.districts,
            "outages": self.outages,
            "gaps": self.gaps,
        }


SITE_COLUMNS = ["site", "name", "kind", "district", "availability", "up_s", "downtime_s"]
SITE_COLUMNS += ["unreachable_s", "maintenance_s", "unknown_s", "observed_s", "outages"]


def site_table(analysis: Analysis) -> pd.DataFrame:
    """Availability of every registered site (no data: empty availability)."""
    return analysis.sites[SITE_COLUMNS].sort_values("site").reset_index(drop=True)


def period_table(analysis: Analysis, zone: tzinfo = UTC) -> pd.DataFrame:
    """The period and how far its data reach: Unix seconds (exact) and local text."""
    observed_to = min(analysis.end, analysis.observed_to)
    return pd.DataFrame(
        {
            "start_unix": [analysis.start],
            "end_unix": [analysis.end],
            "data_to_unix": [observed_to],
            "start": [local_time(analysis.start, zone)],
            "end": [local_time(analysis.end, zone)],
            "data_to": [local_time(observed_to, zone)],
            "timezone": [getattr(zone, "key", str(zone))],
        }
    )


def office_table(analysis: Analysis) -> pd.DataFrame:
    """Availability per office over the period (an office with no data shows no figure)."""
    sites = analysis.sites
    offices = sites[sites["kind"] == "office"]
    cols = ["site", "name", "district", "availability", "downtime_s", "unreachable_s"]
    cols += ["maintenance_s", "unknown_s", "observed_s", "outages"]
    return offices[cols].sort_values(["availability", "site"], na_position="last")


def district_table(analysis: Analysis) -> pd.DataFrame:
    """Availability, data coverage, supervision and blankspots per district."""
    frame = analysis.districts.drop(columns="geometry")
    return frame.sort_values(["blankspot_ratio", "district"], ascending=[False, True])


def outage_table(analysis: Analysis, zone: tzinfo = UTC) -> pd.DataFrame:
    """The period's outages, times in ``zone`` (open outages have no end)."""
    frame = analysis.outages.copy()
    for col in ("start", "end"):
        frame[col] = [local_time(t, zone) for t in frame[col]]
    cols = ["site", "name", "kind", "district", "cause", "start", "end", "duration_s"]
    return frame[[*cols, "maintenance_s"]]


def gap_table(analysis: Analysis) -> pd.DataFrame:
    """Per site with probes: seconds without data in the period (no data is not up time)."""
    sites = analysis.sites[analysis.sites["probes"] > 0]
    frame = sites[["site", "name", "district", "unknown_s", "observed_s", "maintenance_s"]]
    return frame[frame["unknown_s"] > 0].sort_values(["unknown_s", "site"], ascending=[False, True])


def report_tables(analysis: Analysis, zone: tzinfo = UTC) -> ReportTables:
    """The figures of a report over ``analysis`` (one period), times shown in ``zone``.

    Every availability figure comes from :func:`pantau.collector.availability.figures` through
    :func:`pantau.geo.analysis.analyse`; the overall one sums the sites' seconds the same way a
    district does.
    """
    d, sites = analysis.districts, analysis.sites
    overall = analysis.supervision.set_index(["district", "kind"]).loc[("ALL", "all")]
    up, observed = float(sites["up_s"].sum()), float(sites["observed_s"].sum())
    name = getattr(zone, "key", str(zone))
    start, end = local_time(analysis.start, zone), local_time(analysis.end, zone)
    data_to = local_time(min(analysis.end, analysis.observed_to), zone)
    has_data = observed > 0
    facts = [
        ("period", f"{start} .. {end} ({name}, end exclusive)"),
        ("data up to", data_to if analysis.observed_to < analysis.end else "the end of the period"),
        ("districts", f"{len(d)}, {int(d['blankspot_flag'].sum())} flagged as blankspot"),
        ("sites registered / supervised in the period",
         f"{int(overall['registered'])} / {int(overall['supervised'])} "
         f"({overall['supervision_coverage_ratio']:.1%})"),
    ]  # fmt: skip
    if has_data:
        watched = int((sites["observed_s"] > 0).sum())
        facts += [
            ("availability of observed sites (time-weighted, maintenance excluded)",
             f"{up / observed:.3%} over {observed / 3600:.1f} site-hours observed "
             f"({watched} site(s) with data)"),
        ]  # fmt: skip
    else:
        facts += [
            ("availability",
             "no data: no site was observed in this period, so no availability can be stated"),
        ]  # fmt: skip
    facts += [
        ("outages in the period", str(len(analysis.outages))),
        ("blankspot area now", f"{d['blankspot_km2'].sum():.1f} km² of "
         f"{d['target_area_km2'].sum():.1f} km²"),
    ]  # fmt: skip
    return ReportTables(
        summary=tuple(facts),
        period=period_table(analysis, zone),
        sites=site_table(analysis),
        offices=office_table(analysis),
        districts=district_table(analysis),
        outages=outage_table(analysis, zone),
        gaps=gap_table(analysis),
        zone=name,
        has_data=has_data,
    )


def write_tables(tables: ReportTables, out: Path) -> list[Path]:
    """One CSV per table of ``tables`` in ``out``: full precision (the API's figures, to the
    bit), text cells escaped so that a spreadsheet never runs them."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.tables().items():
        path = out / f"{name}.csv"
        safe_frame(table).to_csv(path, index=False)
        paths.append(path)
    return paths


def write_report(
    analysis: Analysis,
    out: Path,
    provenance: Provenance,
    *,
    lang: str,
    previous: Analysis | None = None,
    progress: Progress = null_progress,
) -> list[Path]:
    """Write ``report.pdf``, ``report.html``, one CSV per table of :class:`ReportTables` and the
    map files into ``out``; times in ``analysis.zone``.

    ``previous`` is the period before (its blankspot area gives the trend).
    """
    zone = ZoneInfo(analysis.zone)
    paths = write_all(analysis, out, lang=lang, progress=progress)
    tables = report_tables(analysis, zone)
    paths += write_tables(tables, out)
    before = report_tables(previous, zone) if previous is not None else None
    data = report_data(tables, analysis, provenance, previous=before)
    drawn = withheld_without_data(analysis, tables.has_data)
    pages = out / "report-maps"
    pages.mkdir(exist_ok=True)
    maps = {
        stem: write_png(drawn, stem, pages / f"{stem}.png", size=MAP_SIZES["page"], lang=lang)
        for stem in REPORT_MAPS
    }
    data = dataclasses.replace(data, maps=maps)
    page = render_html_map(drawn, title=provenance.region or "pantau", lang=lang)
    html_path = out / "report.html"
    html_path.write_text(render_document(data, lang, interactive_map=page), encoding="utf-8")
    pdf = write_pdf(render_document(data, lang), out / "report.pdf")
    paths += [*maps.values(), html_path, pdf]
    return paths
