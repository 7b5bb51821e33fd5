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

from pantau.events import format_time

if TYPE_CHECKING:
    from pantau.geo.analysis import Analysis

METRICS = {
    "blankspot_ratio": ("Blankspot ratio", True),
    "supervision_coverage_ratio": ("Supervision coverage", False),
    "availability_ratio": ("Availability", False),
    "mean_blankspot_ratio": ("Blankspot ratio over the period", True),
    "coverage_availability": ("Coverage availability", False),
}  # column: (label, higher is worse)


def map_data(analysis: Analysis, max_vertices: int = 400_000) -> dict:
    """Districts as SVG path strings in a plate carrée scaled by cos(mid latitude), and sites."""
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
    return {
        "box": [minx * kx, -maxy, (maxx - minx) * kx, maxy - miny],
        "districts": districts,
        "sites": sites,
        "metrics": {k: {"label": v[0], "worse_high": v[1]} for k, v in METRICS.items()},
        "at": format_time(analysis.at),
        "period": [format_time(analysis.start), format_time(analysis.end)],
    }


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


def render_html_map(analysis: Analysis, title: str = "pantau: districts") -> str:
    """The whole page as text (data, style and script inline)."""
    data = json.dumps(map_data(analysis), separators=(",", ":")).replace("<", "\\u003c")
    return (
        _PAGE.replace("@TITLE@", html.escape(title))
        .replace("@DATA@", data)
        .replace("@SCRIPT@", _SCRIPT)
    )


def write_html_map(analysis: Analysis, path: Path, *, lang: str = "id") -> Path:
    """Write :func:`render_html_map` to ``path``."""
    path.write_text(render_html_map(analysis), encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>@TITLE@</title>
<style>
body{font:14px sans-serif;margin:0;display:flex;flex-direction:column;height:100vh}
header{padding:6px 10px;background:#f4f4f4;border-bottom:1px solid #ccc}
#map{flex:1;width:100%;cursor:grab;background:#eaf2f8}
.district{stroke:#333;stroke-width:0.6px;vector-effect:non-scaling-stroke}
.district:hover{stroke:#000;stroke-width:2px}
.site{stroke:#000;stroke-width:0.5px;vector-effect:non-scaling-stroke}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;padding:4px 6px;
font-size:12px;display:none;white-space:pre;box-shadow:2px 2px 4px #0003}
#legend{display:inline-block;vertical-align:middle;width:160px;height:12px;margin:0 6px}
</style></head><body>
<header><b>@TITLE@</b> &middot; colour by <select id="metric"></select>
0<span id="legend"></span>1 &middot; <button id="reset">reset view</button>
&middot; <span id="status">drawn <span id="drawn-districts">0</span> districts,
<span id="drawn-sites">0</span> sites</span> &middot; <span id="when"></span></header>
<svg id="map" preserveAspectRatio="xMidYMid meet"></svg><div id="tip"></div>
<script id="data" type="application/json">@DATA@</script>
<script>@SCRIPT@</script></body></html>
"""

_SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  const svg = document.getElementById('map'), NS = svg.namespaceURI;
  const tip = document.getElementById('tip');
  const sel = document.getElementById('metric');
  const stops = [[26, 152, 80], [254, 224, 139], [215, 48, 39]];
  function colour(v, worseHigh) {
    if (v === null || v === undefined || Number.isNaN(v)) return '#d0d0d0';
    let t = Math.max(0, Math.min(1, v)); if (!worseHigh) t = 1 - t;
    const i = t < 0.5 ? 0 : 1, f = t < 0.5 ? t * 2 : (t - 0.5) * 2;
    const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
    return 'rgb(' + c.join(',') + ')';
  }
  const fmt = v => v === null || v === undefined ? 'no data' :
    (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v));
  function show(ev, lines) {
    tip.textContent = lines.join('\\n'); tip.style.display = 'block';
    tip.style.left = (ev.clientX + 12) + 'px'; tip.style.top = (ev.clientY + 12) + 'px';
  }
  const hide = () => { tip.style.display = 'none'; };
  const gD = document.createElementNS(NS, 'g'), gS = document.createElementNS(NS, 'g');
  svg.appendChild(gD); svg.appendChild(gS);
  const paths = [];
  for (const d of data.districts) {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d.p); p.setAttribute('class', 'district');
    p.setAttribute('fill-rule', 'evenodd'); p.dataset.district = d.district;
    p.addEventListener('mousemove', ev => show(ev, [d.name + ' (' + d.district + ')'].concat(
      Object.keys(d).filter(k => k !== 'p' && k !== 'name' && k !== 'district')
        .map(k => k + ': ' + fmt(d[k])))));
    p.addEventListener('mouseleave', hide);
    gD.appendChild(p); paths.push([p, d]);
  }
  const dots = [];
  const stateColour = {up: '#1a9850', down: '#d73027', unknown: '#808080'};
  for (const s of data.sites) {
    const c = document.createElementNS(NS, 'circle');
    c.setAttribute('cx', s.x); c.setAttribute('cy', s.y); c.setAttribute('class', 'site');
    c.setAttribute('fill', stateColour[s.state] || '#808080');
    c.addEventListener('mousemove', ev => show(ev, [s.name + ' (' + s.site + ')', 'kind: ' + s.kind,
      'state: ' + s.state, 'district: ' + fmt(s.district)]));
    c.addEventListener('mouseleave', hide);
    gS.appendChild(c); dots.push(c);
  }
  for (const [key, m] of Object.entries(data.metrics)) {
    const o = document.createElement('option');
    o.value = key; o.textContent = m.label; sel.appendChild(o);
  }
  function paint() {
    const m = data.metrics[sel.value];
    for (const [p, d] of paths) p.setAttribute('fill', colour(d[sel.value], m.worse_high));
    const g = [0, 0.25, 0.5, 0.75, 1].map(t => colour(t, m.worse_high)).join(',');
    document.getElementById('legend').style.background = 'linear-gradient(to right,' + g + ')';
  }
  sel.addEventListener('change', paint);
  let box = data.box.slice();
  function view() {
    svg.setAttribute('viewBox', box.join(' '));
    const r = 4 * Math.max(box[2] / (svg.clientWidth || 800), box[3] / (svg.clientHeight || 600));
    for (const c of dots) c.setAttribute('r', r);
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
  const byId = id => document.getElementById(id);
  byId('reset').addEventListener('click', () => { box = data.box.slice(); view(); });
  paint(); view();
  byId('when').textContent = 'at ' + data.at + ', period ' + data.period.join(' .. ');
  byId('drawn-districts').textContent = String(gD.querySelectorAll('path').length);
  byId('drawn-sites').textContent = String(gS.querySelectorAll('circle').length);
})();
"""
