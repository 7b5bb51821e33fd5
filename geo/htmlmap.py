"""A self-contained interactive HTML map: inline SVG, pan, zoom, tooltips, no network at all.

Hand-written on purpose: the page must work when the uplink is down, so nothing may load from a
CDN, and Leaflet or OpenLayers would bring 150-400 kB of script whose main value (tiles from a tile
server) is unavailable offline anyway. Drawing district polygons and site dots in SVG with a
viewBox for pan and zoom needs ~100 lines of plain JavaScript, inlined below with the data.
After drawing, the page writes how many districts and sites it drew into ``#drawn-districts`` and
``#drawn-sites`` (the headless-browser test reads them).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pantau.geo import reportfmt as fmt
from pantau.geo.render import local_time
from pantau.geo.reportstrings import text

if TYPE_CHECKING:
    import geopandas as gpd

    from pantau.geo.analysis import Analysis

METRICS = {
    "blankspot_ratio": ("bar_blankspot_ratio", True),
    "supervision_coverage_ratio": ("bar_supervision_coverage", False),
    "availability_ratio": ("bar_availability", False),
    "mean_blankspot_ratio": ("html_mean_blankspot", True),
    "coverage_availability": ("html_coverage_availability", False),
}  # column: (label key, higher is worse)
#: Words the page shows (from the report's string tables).
_UI = ("html_colour_by", "html_reset", "html_layers", "layer_districts", "layer_coverage",
       "layer_blankspots", "layer_sites", "legend_sites", "state_down", "state_up",
       "state_unknown", "legend_no_data", "no_data", "period", "html_drawn")  # fmt: skip


def map_data(analysis: Analysis, lang: str = "id", max_vertices: int = 400_000) -> dict:
    """Districts, coverage and blankspot areas as SVG path strings in a plate carrée scaled by
    cos(mid latitude), and sites."""
    import shapely

    frame = analysis.districts
    minx, miny, maxx, maxy = frame.total_bounds
    kx = math.cos(math.radians((miny + maxy) / 2))
    geoms = frame.geometry.values
    total = int(shapely.get_num_coordinates(geoms).sum())
    if total > max_vertices:  # keep the page light: simplify to what a screen can show
        geoms = shapely.simplify(geoms, max(maxx - minx, maxy - miny) / 4000)
    figures = frame.drop(columns="geometry")
    districts = []
    for geom, rec in zip(geoms, figures.to_dict("records"), strict=True):
        rec = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        districts.append({"p": _path(geom, kx), **{k: _jsonable(v) for k, v in rec.items()}})
    sites = [
        {
            "x": round(p.x * kx, 6), "y": round(-p.y, 6), "site": s, "name": n, "kind": k,
            "state": st, "district": None if d is None or d != d else str(d),
        }
        for p, s, n, k, st, d in zip(
            analysis.sites.geometry, analysis.sites["site"], analysis.sites["name"],
            analysis.sites["kind"], analysis.sites["state"], analysis.sites["district"],
            strict=True,
        )
    ]  # fmt: skip
    tolerance = max(maxx - minx, maxy - miny) / 4000
    pad = max(maxx - minx, maxy - miny) * 0.02  # a margin so no edge touches the frame
    return {
        "box": [
            (minx - pad) * kx,
            -maxy - pad,
            (maxx - minx + 2 * pad) * kx,
            maxy - miny + 2 * pad,
        ],
        "districts": districts,
        "sites": sites,
        "coverage": _layer_paths(analysis.coverage, kx, tolerance),
        "blankspots": _layer_paths(analysis.blankspots, kx, tolerance),
        "metrics": {k: {"label": text(lang, v[0]), "worse_high": v[1]} for k, v in METRICS.items()},
        "ui": {k: text(lang, k) for k in _UI},
        "at": local_time(analysis.at, analysis.zone),
        "period": [
            local_time(analysis.start, analysis.zone),
            local_time(analysis.end, analysis.zone),
        ],
        "caption": fmt.period(analysis.start, analysis.end, lang, analysis.zone),
    }


def _layer_paths(frame: gpd.GeoDataFrame, kx: float, tolerance: float) -> list[str]:
    """One SVG path per non-empty geometry of ``frame`` (any CRS), simplified to screen detail."""
    import shapely

    if frame.empty:
        return []
    geoms = shapely.simplify(frame.to_crs("EPSG:4326").geometry.values, tolerance)
    return [_path(g, kx) for g in geoms if g is not None and not g.is_empty]


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _path(geom: object, kx: float) -> str:
    import shapely

    parts = []
    for poly in shapely.get_parts(geom):
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            pts = " ".join(f"{x * kx:.5f},{-y:.5f}" for x, y in xy[:-1])
            parts.append(f"M{pts}Z")
    return "".join(parts)


def render_html_map(analysis: Analysis, title: str = "pantau", lang: str = "id") -> str:
    """The whole page as text (data, style and script inline); times in ``analysis.zone``."""
    data = json.dumps(map_data(analysis, lang), separators=(",", ":")).replace("<", "\\u003c")
    return (
        _PAGE.replace("@TITLE@", html.escape(title))
        .replace("@LANG@", lang)
        .replace("@DATA@", data)
        .replace("@SCRIPT@", _SCRIPT)
    )


def write_html_map(analysis: Analysis, path: Path, *, lang: str = "id") -> Path:
    """Write :func:`render_html_map` to ``path``."""
    path.write_text(render_html_map(analysis, lang=lang), encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="@LANG@"><head><meta charset="utf-8"><title>@TITLE@</title>
<style>
body{font:14px 'DejaVu Sans',sans-serif;margin:0;display:flex;flex-direction:column;height:100vh}
header{padding:6px 10px;background:#f4f4f4;border-bottom:1px solid #ccc;line-height:1.9}
header label{margin-right:10px;white-space:nowrap}
#map{flex:1;min-height:0;width:100%;cursor:grab;background:#eef3f7}
.district{stroke:#555;stroke-width:0.6px;vector-effect:non-scaling-stroke}
.district:hover{stroke:#000;stroke-width:2px}
.coverage{fill:none;stroke:#e08214;stroke-width:1.5px;stroke-dasharray:5 3;
vector-effect:non-scaling-stroke;pointer-events:none}
.blank{fill:url(#blank-hatch);stroke:none;vector-effect:non-scaling-stroke;
pointer-events:none}
.site{stroke:#fff;stroke-width:1px;vector-effect:non-scaling-stroke}
.site.down{stroke:#000;stroke-width:1.6px}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;padding:4px 6px;
font-size:12px;display:none;white-space:pre;box-shadow:2px 2px 4px #0003}
#legend{display:inline-block;vertical-align:middle;width:160px;height:12px;margin:0 6px;
border:1px solid #888}
.sw{display:inline-block;width:12px;height:12px;border-radius:50%;vertical-align:middle;
margin:0 3px 0 8px;border:1px solid #333}
.sw.nodata{border-radius:0;background:repeating-linear-gradient(45deg,#999 0 2px,#f4f4f4 2px 5px)}
.sw.cov{border-radius:0;border:2px dashed #e08214;background:none}
.sw.blank{border-radius:0;border:1px solid #555;
background:repeating-linear-gradient(-45deg,#555 0 1px,transparent 1px 5px)}
</style></head><body>
<header><b>@TITLE@</b> &middot; <span id="t-colour"></span> <select id="metric"></select>
<span id="lo">0 %</span><span id="legend"></span><span id="hi">100 %</span>
<span class="sw nodata"></span><span id="t-nodata"></span>
&middot; <button id="reset"></button><br>
<span id="t-layers"></span>:
<label><input type="checkbox" id="layer-districts" checked> <span id="t-districts"></span></label>
<label><input type="checkbox" id="layer-coverage" checked><span class="sw cov"></span><span
 id="t-coverage"></span></label>
<label><input type="checkbox" id="layer-blankspots" checked><span class="sw blank"></span><span
 id="t-blankspots"></span></label>
<label><input type="checkbox" id="layer-sites" checked> <span id="t-sites"></span>:</label>
<span id="site-legend"></span>
&middot; <span id="status"><span id="t-drawn"></span> <span id="drawn-districts">0</span> /
<span id="drawn-sites">0</span> / <span id="drawn-coverage">0</span> /
<span id="drawn-blankspots">0</span></span> &middot; <span id="when"></span></header>
<svg id="map" preserveAspectRatio="xMidYMid meet"><defs>
<pattern id="nodata-hatch" patternUnits="userSpaceOnUse" width="6" height="6"
 patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/>
<line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/></pattern>
<pattern id="blank-hatch" patternUnits="userSpaceOnUse" width="9" height="9"
 patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0" y2="9" stroke="#000"
 stroke-width="1" stroke-opacity="0.55"/></pattern></defs></svg><div id="tip"></div>
<script id="data" type="application/json">@DATA@</script>
<script>@SCRIPT@</script></body></html>
"""

_SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  const ui = data.ui, byId = id => document.getElementById(id);
  const svg = byId('map'), NS = svg.namespaceURI, tip = byId('tip'), sel = byId('metric');
  // Single-hue ramps (dark = more), so no district colour is mistaken for a site's state.
  const ramps = {true: [[239, 237, 245], [84, 39, 143]], false: [[222, 235, 247], [8, 69, 148]]};
  function colour(v, worseHigh) {
    if (v === null || v === undefined || Number.isNaN(v)) return 'url(#nodata-hatch)';
    const t = Math.max(0, Math.min(1, v)), r = ramps[worseHigh];
    return 'rgb(' + r[0].map((a, k) => Math.round(a + (r[1][k] - a) * t)).join(',') + ')';
  }
  const pct = v => (100 * v).toFixed(1) + ' %';
  const fmt = (k, v) => v === null || v === undefined ? ui.no_data :
    (typeof v === 'number' ? (Number.isInteger(v) ? String(v) :
      (k.endsWith('ratio') || k.endsWith('availability') ? pct(v) : v.toFixed(2))) : String(v));
  function show(ev, lines) {
    tip.textContent = lines.join('\\n'); tip.style.display = 'block';
    tip.style.left = (ev.clientX + 12) + 'px'; tip.style.top = (ev.clientY + 12) + 'px';
  }
  const hide = () => { tip.style.display = 'none'; };
  const layer = () => {
    const g = document.createElementNS(NS, 'g'); svg.appendChild(g); return g;
  };
  const gD = layer(), gB = layer(), gC = layer(), gS = layer();
  const paths = [];
  for (const d of data.districts) {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d.p); p.setAttribute('class', 'district');
    p.setAttribute('fill-rule', 'evenodd'); p.dataset.district = d.district;
    p.addEventListener('mousemove', ev => show(ev, [d.name + ' (' + d.district + ')'].concat(
      Object.keys(data.metrics).map(k => data.metrics[k].label + ': ' + fmt(k, d[k])))));
    p.addEventListener('mouseleave', hide);
    gD.appendChild(p); paths.push([p, d]);
  }
  for (const [g, list, cls] of [[gC, data.coverage, 'coverage'], [gB, data.blankspots, 'blank']]) {
    for (const d of list) {
      const p = document.createElementNS(NS, 'path');
      p.setAttribute('d', d); p.setAttribute('class', cls); p.setAttribute('fill-rule', 'evenodd');
      g.appendChild(p);
    }
  }
  // Down sites last and largest: the first thing the eye finds.
  const style = {unknown: ['#bdbdbd', 0.8], up: ['#1a9850', 1], down: ['#e31a1c', 1.9]};
  const order = {unknown: 0, up: 1, down: 2};
  const sites = data.sites.slice().sort((a, b) => (order[a.state] || 0) - (order[b.state] || 0));
  const dots = [];
  for (const s of sites) {
    const st = style[s.state] ? s.state : 'unknown';
    const c = document.createElementNS(NS, 'circle');
    c.setAttribute('cx', s.x); c.setAttribute('cy', s.y); c.setAttribute('class', 'site ' + st);
    c.setAttribute('fill', style[st][0]); c.dataset.state = st;
    c.addEventListener('mousemove', ev => show(ev, [s.name + ' (' + s.site + ')', s.kind,
      ui['state_' + st], fmt('', s.district)]));
    c.addEventListener('mouseleave', hide);
    gS.appendChild(c); dots.push([c, style[st][1]]);
  }
  const counts = {down: 0, up: 0, unknown: 0};
  for (const s of data.sites) counts[style[s.state] ? s.state : 'unknown'] += 1;
  byId('site-legend').innerHTML = ['down', 'up', 'unknown'].map(st =>
    '<span class="sw" style="background:' + style[st][0] + '"></span>' + ui['state_' + st] +
    ' (' + counts[st] + ')').join('');
  for (const [key, m] of Object.entries(data.metrics)) {
    const o = document.createElement('option');
    o.value = key; o.textContent = m.label; sel.appendChild(o);
  }
  function paint() {
    const m = data.metrics[sel.value];
    for (const [p, d] of paths) p.setAttribute('fill', colour(d[sel.value], m.worse_high));
    const g = [0, 0.5, 1].map(t => colour(t, m.worse_high)).join(',');
    byId('legend').style.background = 'linear-gradient(to right,' + g + ')';
  }
  sel.addEventListener('change', paint);
  for (const [id, g] of [['districts', gD], ['coverage', gC], ['blankspots', gB], ['sites', gS]]) {
    const box = byId('layer-' + id);
    box.addEventListener('change', () => { g.style.display = box.checked ? '' : 'none'; });
    byId('t-' + id).textContent = ui['layer_' + id];
  }
  byId('t-colour').textContent = ui.html_colour_by;
  byId('t-nodata').textContent = ui.legend_no_data;
  byId('t-layers').textContent = ui.html_layers; byId('reset').textContent = ui.html_reset;
  byId('t-drawn').textContent = ui.html_drawn;
  let box = data.box.slice();
  function view() {
    svg.setAttribute('viewBox', box.join(' '));
    const r = 5 * Math.max(box[2] / (svg.clientWidth || 800), box[3] / (svg.clientHeight || 600));
    for (const [c, k] of dots) c.setAttribute('r', r * k);
    // Hatches are drawn in map units: keep their spacing at a few screen pixels at any zoom.
    for (const pat of svg.querySelectorAll('pattern')) {
      const w = 9 * r / 5, line = pat.querySelector('line');
      pat.setAttribute('width', w); pat.setAttribute('height', w);
      const rect = pat.querySelector('rect');
      if (rect) { rect.setAttribute('width', w); rect.setAttribute('height', w); }
      line.setAttribute('y2', w); line.setAttribute('stroke-width', w / 6);
    }
  }
  function toWorld(ev) {
    const pt = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(svg.getScreenCTM().inverse());
    return [pt.x, pt.y];
  }
  svg.addEventListener('wheel', ev => {
    ev.preventDefault();
    const [x, y] = toWorld(ev), k = ev.deltaY > 0 ? 1.25 : 0.8;
    box = [x - (x - box[0]) * k, y - (y - box[1]) * k, box[2] * k, box[3] * k]; view();
  }, {passive: false});
  let drag = null;
  svg.addEventListener('pointerdown', ev => {
    drag = toWorld(ev); svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener('pointermove', ev => {
    if (!drag) return; const [x, y] = toWorld(ev);
    box[0] -= x - drag[0]; box[1] -= y - drag[1]; view();
  });
  svg.addEventListener('pointerup', () => { drag = null; });
  byId('reset').addEventListener('click', () => { box = data.box.slice(); view(); });
  paint(); view();
  byId('when').textContent = data.caption;
  byId('drawn-districts').textContent = String(gD.querySelectorAll('path').length);
  byId('drawn-sites').textContent = String(gS.querySelectorAll('circle').length);
  byId('drawn-coverage').textContent = String(gC.querySelectorAll('path').length);
  byId('drawn-blankspots').textContent = String(gB.querySelectorAll('path').length);
})();
"""
