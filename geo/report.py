"""The monthly report: one self-contained HTML page and its CSV tables (SPBE evidence).

Sections: availability per office, supervision coverage and blankspots per district, the outage
list, and the map (PNG choropleths inline, the interactive map in an iframe). No network needed
to open it: images are data URIs and the map is the same offline page as ``pantau map`` writes.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from datetime import UTC, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pantau.csvsafe import safe_frame
from pantau.geo.htmlmap import render_html_map
from pantau.geo.progress import Progress, null_progress
from pantau.geo.render import CHOROPLETHS, local_time, write_all

if TYPE_CHECKING:
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


def write_report(
    analysis: Analysis, out: Path, zone: tzinfo = UTC, progress: Progress = null_progress
) -> list[Path]:
    """Write ``report.html``, one CSV per table of :class:`ReportTables` and the maps."""
    paths = write_all(analysis, out, progress=progress)
    report = report_tables(analysis, zone)
    for name, table in report.tables().items():
        path = out / f"{name}.csv"
        # Full precision: the API's figures, to the bit; text cells escaped for spreadsheets.
        safe_frame(table).to_csv(path, index=False)
        paths.append(path)
    path = out / "report.html"
    path.write_text(render_report(analysis, report, out), encoding="utf-8")
    paths.append(path)
    return paths


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" width="640">'


def render_report(analysis: Analysis, report: ReportTables, folder: Path) -> str:
    """The report page; the PNGs in ``folder`` are inlined."""
    facts = report.summary
    month = report.summary[0][1][:7]
    images = "".join(_img(folder / f"{stem}.png", title) for stem, _, title in CHOROPLETHS)
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in analysis.problems)
    iframe = html.escape(render_html_map(analysis, title="pantau: districts"), quote=True)
    tables = report.tables()
    sections = "".join(
        f"<h2>{title}</h2>{_table(tables[key])}"
        for key, title in (
            ("offices", "Availability per office"),
            ("sites", "Availability per site"),
            ("districts", "Availability, supervision coverage and blankspots per district"),
            ("outages", f"Outages (times in {report.zone})"),
            ("gaps", "Sites without data for part of the period (not counted as up)"),
        )
    )
    nodata = (
        "<p class='nodata'>No data: no site was observed in this period. "
        "This report states no availability figure.</p>"
        if not report.has_data
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>pantau report {month}</title><style>{_STYLE}</style></head><body>"
        f"<h1>pantau monthly report, {month}</h1>{nodata}<table class='facts'>"
        + "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
        + "</table>"
        + (f"<h2>Sites to check</h2><ul>{problems}</ul>" if problems else "")
        + f"<h2>Map</h2><iframe srcdoc=\"{iframe}\" title='map'></iframe>{images}"
        + sections
        + "</body></html>"
    )


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>none</p>"
    return frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)


_STYLE = """body{font:14px sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f0f0f0;text-align:left}iframe{width:100%;height:560px;border:1px solid #ccc}
img{margin:4px;border:1px solid #ddd}"""
