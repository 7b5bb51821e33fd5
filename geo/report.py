"""The monthly report: one self-contained HTML page and its CSV tables (SPBE evidence).

Sections: availability per office, supervision coverage and blankspots per district, the outage
list, and the map (PNG choropleths inline, the interactive map in an iframe). No network needed
to open it: images are data URIs and the map is the same offline page as ``pantau map`` writes.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pantau.csvsafe import safe_frame
from pantau.events import format_time
from pantau.geo.htmlmap import render_html_map
from pantau.geo.progress import Progress, null_progress
from pantau.geo.render import CHOROPLETHS, write_all

if TYPE_CHECKING:
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


def write_report(analysis: Analysis, out: Path, progress: Progress = null_progress) -> list[Path]:
    """Write ``report.html``, ``offices.csv``, ``districts.csv``, ``outages.csv`` and the maps."""
    paths = write_all(analysis, out, progress=progress)
    tables = {
        "offices": office_table(analysis),
        "districts": district_table(analysis),
        "outages": outage_table(analysis),
    }
    for name, table in tables.items():
        path = out / f"{name}.csv"
        safe_frame(table).to_csv(path, index=False, float_format="%.6g")
        paths.append(path)
    path = out / "report.html"
    path.write_text(render_report(analysis, tables, out), encoding="utf-8")
    paths.append(path)
    return paths


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" width="640">'


def render_report(analysis: Analysis, tables: dict[str, pd.DataFrame], folder: Path) -> str:
    """The report page; the PNGs in ``folder`` are inlined."""
    start, end = format_time(analysis.start)[:10], format_time(analysis.end)[:10]
    d = analysis.districts
    sites = analysis.sites
    overall = analysis.supervision.set_index(["district", "kind"]).loc[("ALL", "all")]
    watched = sites["availability"].dropna()
    facts = [
        ("period", f"{start} .. {end} (UTC, end exclusive)"),
        ("districts", f"{len(d)}, {int(d['blankspot_flag'].sum())} flagged as blankspot"),
        ("sites registered / supervised",
         f"{int(overall['registered'])} / {int(overall['supervised'])} "
         f"({overall['supervision_coverage_ratio']:.1%})"),
        ("mean availability of watched sites",
         f"{watched.mean():.3%}" if len(watched) else "no watched site"),
        ("outages in the period", str(len(analysis.outages))),
        ("blankspot area now", f"{d['blankspot_km2'].sum():.1f} km² of "
         f"{d['target_area_km2'].sum():.1f} km²"),
    ]  # fmt: skip
    images = "".join(_img(folder / f"{stem}.png", title) for stem, _, title in CHOROPLETHS)
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in analysis.problems)
    iframe = html.escape(render_html_map(analysis, title="pantau: districts"), quote=True)
    sections = "".join(
        f"<h2>{title}</h2>{_table(tables[key])}"
        for key, title in (
            ("offices", "Availability per office"),
            ("districts", "Supervision coverage and blankspots per district"),
            ("outages", "Outages"),
        )
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>pantau report {start}</title><style>{_STYLE}</style></head><body>"
        f"<h1>pantau monthly report, {start[:7]}</h1><table class='facts'>"
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
