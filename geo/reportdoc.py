"""The monthly report as one HTML document: a web page on screen and an A4 document in print.

:func:`render_document` turns a :class:`~pantau.geo.reportdata.ReportData` into HTML text
(pure: no file is read except the map PNGs it inlines). The same text is ``report.html`` and,
through :mod:`pantau.geo.reportpdf`, ``report.pdf``; the print rules (``@page``, page breaks,
running header, page numbers) live in the stylesheet below, so the two never disagree.
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING

from pantau.geo import reportfmt as fmt
from pantau.geo.reportstrings import STRINGS, text

if TYPE_CHECKING:
    from pantau.geo.reportdata import ReportData

#: The maps in the report, in order: file stem and the title key.
REPORT_MAPS = ("blankspot_ratio", "supervision_coverage", "availability")


def render_document(data: ReportData, lang: str, interactive_map: str | None = None) -> str:
    """The whole report as HTML text (styles and images inline, no URL).

    ``interactive_map`` (the offline map page) is embedded for the screen only; print skips it.
    """
    t = _Text(lang)
    p = data.provenance
    title = f"{t('title')}: {p.region or ''} {fmt.month(data.start, lang)}".strip()
    body = "".join(
        [
            _cover(data, t),
            _summary(data, t),
            _maps(data, t),
            _interactive(interactive_map, t),
            _offices(data, t),
            _districts(data, t),
            _outages(data, t),
            _appendix(data, t),
        ]
    )
    running = html.escape(f"{p.region} · {fmt.month(data.start, lang)}".strip(" ·"))
    style = (
        _STYLE.replace("@RUNNING@", running).replace("@PAGE@", t("page")).replace("@OF@", t("of"))
    )
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head>"
        f"<body>{body}</body></html>"
    )


class _Text:
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **values: object) -> str:
        return html.escape(text(self.lang, key, **values))


def _cover(data: ReportData, t: _Text) -> str:
    p, lang = data.provenance, t.lang
    end_incl = data.end
    period = f"{fmt.when(data.start, lang, p.timezone)} – {fmt.when(end_incl, lang, p.timezone)}"
    return (
        '<section class="cover">'
        f"<p class='org'>{html.escape(p.region)}</p>"
        f"<h1>{t('title')}</h1><p class='sub'>{t('subtitle')}</p>"
        f"<p class='month'>{html.escape(fmt.month(data.start, lang))}</p>"
        "<table class='facts'>"
        f"<tr><th>{t('period')}</th><td>{html.escape(period)}</td></tr>"
        f"<tr><th>{t('made')}</th><td>{html.escape(fmt.when(p.made, lang, p.timezone))}</td></tr>"
        f"<tr><th>{t('version')}</th><td>pantau {html.escape(p.version)}</td></tr>"
        "</table>"
        f"<p class='by'>{t('by', version=p.version)}</p></section>"
    )


def _summary(data: ReportData, t: _Text) -> str:
    s, lang = data.summary, t.lang
    change = fmt.change(s.blankspot_km2, s.blankspot_km2_previous, lang)
    trend = (
        t("blankspot_change", change=change) if change is not None else t("blankspot_change_none")
    )
    cards = [
        (t("supervision"), fmt.percent(s.supervision_coverage, lang, 1),
         t("supervision_detail", supervised=s.sites_supervised, registered=s.sites_registered)),
        (t("office_availability"), fmt.percent(s.office_availability, lang),
         t("office_detail", with_data=s.offices_with_data, offices=s.offices)),
        (t("outages"), fmt.count(s.outages, lang),
         t("outage_detail", downtime=fmt.duration(s.downtime_s, lang))),
        (t("blankspot"), fmt.area(s.blankspot_km2, lang),
         t("blankspot_detail", target=fmt.area(s.target_km2, lang)) + "<br>" + trend),
    ]  # fmt: skip
    body = "".join(
        f"<div class='card'><div class='label'>{label}</div>"
        f"<div class='figure{' nodata' if value == text(lang, 'no_data') else ''}'>"
        f"{html.escape(value)}</div><div class='detail'>{detail}</div></div>"
        for label, value, detail in cards
    )
    if not data.has_data:
        warn = f"<p class='warn'>{t('no_data_period')}</p>"
    elif len(data.gaps) or data.data_to is not None:
        warn = f"<p class='warn'>{t('gaps_warning')}</p>"
    else:
        warn = ""
    warn += _attention(data, t)
    problems = ""
    if data.problems:
        items = "".join(f"<li>{html.escape(x)}</li>" for x in data.problems)
        problems = f"<h3>{t('to_check')}</h3><ul class='problems'>{items}</ul>"
    return (
        f"<section class='page'><h2>{t('summary')}</h2><div class='cards'>{body}</div>"
        f"{warn}{problems}</section>"
    )


def _attention(data: ReportData, t: _Text) -> str:
    """What to look at first: the offices with the lowest availability, outages still open."""
    lang, zone = t.lang, data.provenance.timezone
    out = ""
    worst = data.offices.dropna(subset=["availability"]).head(5)
    if len(worst):
        items = "".join(
            f"<li><b>{html.escape(fmt.percent(r.availability, lang))}</b> "
            f"{html.escape(str(r.name))} ({html.escape(_text(r.district_name, lang))})</li>"
            for r in worst.itertuples()
        )
        out += f"<h3>{t('lowest_offices')}</h3><ul class='attention'>{items}</ul>"
    ongoing = data.outages[data.outages["end"].isna()]
    if len(ongoing):
        items = "".join(
            f"<li>{html.escape(str(r.name))} ({html.escape(_text(r.district_name, lang))}): "
            f"{t('since')} {html.escape(fmt.when(r.start, lang, zone))}</li>"
            for r in ongoing.itertuples()
        )
        out += f"<h3>{t('ongoing')}</h3><ul class='attention'>{items}</ul>"
    return out


def _maps(data: ReportData, t: _Text) -> str:
    out = []
    for stem in REPORT_MAPS:
        path = data.maps.get(stem)
        if path is None:
            continue
        b64 = base64.b64encode(path.read_bytes()).decode("ascii")
        out.append(
            f"<figure class='map'><h2>{t('maps')}: {t('map_' + stem)}</h2>"
            f"<img alt='{t('map_' + stem)}' src='data:image/png;base64,{b64}'></figure>"
        )
    return "".join(out)


def _interactive(page: str | None, t: _Text) -> str:
    if page is None:
        return ""
    return (
        f"<section class='screen-only'><h2>{t('interactive_map')}</h2>"
        f"<iframe title='{t('interactive_map')}' srcdoc=\"{html.escape(page, quote=True)}\">"
        "</iframe></section>"
    )


def _district_label(data: ReportData, t: _Text) -> str:
    """Kelurahan for a kelurahan layer (code PP.KK.CC.DDDD), kecamatan for PP.KK.CC, else a
    neutral word."""
    parts = {len(str(c).split(".")) for c in data.districts["district"]}
    return {4: t("col_kelurahan"), 3: t("col_kecamatan")}.get(
        parts.pop() if len(parts) == 1 else 0, t("col_district")
    )


def _table(headers: list[tuple[str, str]], rows: list[list[str]], cls: str) -> str:
    head = "".join(f"<th class='{a}'>{h}</th>" for h, a in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='{a}{' nodata' if 'nodata' in c else ''}'>{c.replace(' nodata', '')}</td>"
            for c, (_, a) in zip(row, headers, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table class='data {cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: str, lang: str) -> str:
    """Escape a cell; mark "no data" so it is greyed, never mistaken for a figure."""
    esc = html.escape(value)
    return f"{esc} nodata" if value == text(lang, "no_data") else esc


def _offices(data: ReportData, t: _Text) -> str:
    lang, frame = t.lang, data.offices
    headers = [(t("col_name"), "l"), (_district_label(data, t), "l"),
               (t("col_availability"), "r"), (t("col_downtime"), "r"),
               (t("col_outages"), "r"), (t("col_longest"), "r")]  # fmt: skip
    rows = [
        [html.escape(str(r.name)), _cell(_text(r.district_name, lang), lang),
         _cell(fmt.percent(r.availability, lang), lang), _cell(fmt.duration(r.downtime_s, lang),
         lang), _cell(fmt.count(r.outages, lang), lang),
         _cell(fmt.duration(r.longest_s, lang), lang)]
        for r in frame.itertuples()
    ]  # fmt: skip
    table = _table(headers, rows, "offices") if rows else f"<p>{t('none')}</p>"
    return f"<section class='page'><h2>{t('offices')}</h2>{table}</section>"


def _districts(data: ReportData, t: _Text) -> str:
    lang = t.lang
    headers = [(t("col_code"), "l"), (_district_label(data, t), "l"),
               (t("col_registered"), "r"), (t("col_supervision"), "r"),
               (t("col_availability"), "r"), (t("col_data"), "r"), (t("col_target"), "r"),
               (t("col_blankspot"), "r"), (t("col_blankspot_ratio"), "r")]  # fmt: skip
    rows = [
        [html.escape(str(r.district)), html.escape(str(r.name)),
         fmt.count(r.sites_registered, lang),
         _cell(fmt.percent(r.supervision_coverage_ratio, lang, 1), lang),
         _cell(fmt.percent(r.availability_ratio, lang), lang),
         _cell(fmt.percent(r.data_ratio, lang, 1), lang),
         _cell(fmt.area(r.target_area_km2, lang), lang),
         _cell(fmt.area(r.mean_blankspot_km2, lang), lang),
         _cell(fmt.percent(r.blankspot_ratio, lang, 1), lang)]
        for r in data.districts.itertuples()
    ]  # fmt: skip
    return (
        f"<section class='page'><h2>{t('districts')}</h2>"
        f"{_table(headers, rows, 'districts')}</section>"
    )


def _outages(data: ReportData, t: _Text) -> str:
    lang, zone = t.lang, data.provenance.timezone
    tz = html.escape(fmt.zone_name(data.start, zone))
    headers = [(t("col_site"), "l"), (_district_label(data, t), "l"), (t("col_cause"), "l"),
               (f"{t('col_start')} ({tz})", "l"), (f"{t('col_end')} ({tz})", "l"),
               (t("col_duration"), "r"), (t("col_maintenance"), "r")]  # fmt: skip
    rows = [
        [html.escape(str(r.name if isinstance(r.name, str) else r.site)),
         _cell(_text(r.district_name, lang), lang),
         t("cause_" + r.cause) if "cause_" + r.cause in STRINGS[lang] else html.escape(r.cause),
         fmt.short(r.start), fmt.short(r.end) if not fmt.missing_time(r.end) else t("open"),
         fmt.duration(r.duration_s, lang), fmt.duration(r.maintenance_s, lang)]
        for r in data.outages.itertuples()
    ]  # fmt: skip
    table = _table(headers, rows, "outages") if rows else f"<p>{t('no_outage')}</p>"
    return f"<section class='page'><h2>{t('outage_list')}</h2>{table}</section>"


def _appendix(data: ReportData, t: _Text) -> str:
    lang, p = t.lang, data.provenance
    defs = STRINGS[lang]["definitions"]
    assert isinstance(defs, tuple)
    items = "".join(f"<dt>{html.escape(a)}</dt><dd>{html.escape(b)}</dd>" for a, b in defs)
    gaps = _gaps(data, t)
    period = f"{fmt.when(data.start, lang, p.timezone)} – {fmt.when(data.end, lang, p.timezone)}"
    trace = [
        (t("data_period"), html.escape(period)),
        (t("timezone"), html.escape(p.timezone)),
        (t("version"), f"pantau {html.escape(p.version)}"),
        (t("config_digest"), f"<code>{html.escape(p.config_digest)}</code>"),
        (t("inventory_digest"), f"<code>{html.escape(p.inventory_digest)}</code>"),
        (t("layer"), html.escape(p.district_layer)),
    ]
    rows = "".join(f"<tr><th>{a}</th><td>{b}</td></tr>" for a, b in trace)
    return (
        f"<section class='page appendix'><h2>{t('appendix')}</h2><dl>{items}</dl>"
        f"<h3>{t('gaps')}</h3>{gaps}<h3>{t('trace')}</h3><table class='facts'>{rows}</table>"
        "</section>"
    )


def _gaps(data: ReportData, t: _Text) -> str:
    """Where the period has no data: all of it, its future, and per site (from the tables)."""
    lang, zone = t.lang, data.provenance.timezone
    out = "" if data.has_data else f"<p>{t('gap_no_observation')}</p>"
    if data.data_to is not None:
        out += f"<p>{t('gap_not_yet', when=fmt.when(data.data_to, lang, zone))}</p>"
    if data.has_data and len(data.gaps):
        headers = [(t("col_site"), "l"), (_district_label(data, t), "l"),
                   (t("col_no_data"), "r"), (t("col_observed"), "r")]  # fmt: skip
        rows = [
            [html.escape(str(r.name)), _cell(_text(r.district_name, lang), lang),
             fmt.duration(r.unknown_s, lang), fmt.duration(r.observed_s, lang)]
            for r in data.gaps.itertuples()
        ]  # fmt: skip
        out += f"<p>{t('gap_sites')}</p>{_table(headers, rows, 'gaps')}"
    return out or f"<p>{t('no_gaps')}</p>"


def _text(value: object, lang: str) -> str:
    return text(lang, "no_data") if fmt.missing(value) else str(value)  # type: ignore[arg-type]


_STYLE = """
@page{size:A4;margin:20mm 16mm 18mm 16mm;
 @top-left{content:"@RUNNING@";font:8.5pt 'DejaVu Sans',sans-serif;color:#555}
 @bottom-right{content:"@PAGE@ " counter(page) " @OF@ " counter(pages);
  font:8.5pt 'DejaVu Sans',sans-serif;color:#555}}
@page :first{@top-left{content:none}@bottom-right{content:none}}
html{font:10.5pt/1.4 'DejaVu Sans',sans-serif;color:#1a1a1a}
body{max-width:1000px;margin:0 auto;padding:0 16px}
h1{font-size:22pt;margin:0 0 6px}h2{font-size:14pt;margin:0 0 10px;color:#0b3d62;
 border-bottom:2px solid #0b3d62;padding-bottom:3px}h3{font-size:11pt;margin:14px 0 6px}
section{margin:28px 0}
.cover{padding-top:60px}.cover .org{font-size:15pt;font-weight:bold;color:#0b3d62;margin:0 0 40px}
.cover .sub{font-size:12pt;color:#444}.cover .month{font-size:18pt;margin:40px 0 20px}
.cover .by{margin-top:60px;color:#555;font-size:9pt}
table.facts th{text-align:left;padding:3px 14px 3px 0;vertical-align:top;font-weight:normal;
 color:#555}table.facts td{padding:3px 0}
.cards{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.card{border:1px solid #c8d3dc;border-left:5px solid #0b3d62;padding:10px 12px}
.card .label{font-size:9.5pt;color:#444}.card .figure{font-size:22pt;font-weight:bold;
 margin:4px 0}.card .detail{font-size:9pt;color:#444}
.figure.nodata{color:#8a5a00;font-size:15pt;font-style:italic}
.warn{border:1px solid #d9a400;background:#fff6d6;padding:6px 10px}
ul.problems{font-size:9pt}ul.attention{margin:4px 0;padding-left:18px}
figure.map{margin:0}figure.map img{width:100%;height:auto;border:1px solid #ccc}
table.data{border-collapse:collapse;width:100%;font-size:8.5pt}
table.data th{background:#e8eef3;text-align:left;padding:4px 5px;border-bottom:1px solid #8aa;
 vertical-align:bottom;font-size:8pt}
table.data td{padding:3px 5px;border-bottom:1px solid #dde;vertical-align:top}
table.data th.r{text-align:right;white-space:normal}
table.data .r{text-align:right;white-space:nowrap}
table.data tr:nth-child(even) td{background:#f7f9fb}
td.nodata{color:#8a5a00;font-style:italic}
thead{display:table-header-group}tr{page-break-inside:avoid}
dl dt{font-weight:bold;margin-top:8px}dl dd{margin:2px 0 0 0}
.appendix{font-size:9pt}.appendix dl dt{margin-top:5px}.appendix h3{margin:10px 0 4px}
code{font:9pt 'DejaVu Sans Mono',monospace}
iframe{width:100%;height:640px;border:1px solid #ccc}
@media print{.screen-only{display:none}body{max-width:none;padding:0}section{margin:0}
 .page,figure.map{page-break-before:always}.cover{page-break-after:avoid}
 figure.map img{max-height:225mm;width:auto;max-width:100%}}
"""
