"""The collector's ``/`` page: what runs here, how its sites are, and where to look next.

A collector extension (``register(app, context)``, listed in ``EXTENSION_MODULES``): one small
HTML page, no scripts, no outside resources, so it works on an isolated government network.
"""

from __future__ import annotations

import html
import importlib.util
from collections import Counter
from typing import Any

from aiohttp import web

from pantau import __version__

#: The documentation shipped with the source (not installed: named by its path in the checkout).
DOCS = (
    ("README.md", "quick start, maps, privileges"),
    ("docs/operations.md", "deploying on a city's servers"),
    ("docs/contracts.md", "inventory, event API and metric names"),
    ("docs/agent.md", "rounds, site states, canaries, signals"),
    ("docs/testing.md", "the network lab and the tests"),
)

_LINKS = (
    ("/api/v1/sites", "sites and their state (JSON)"),
    ("/api/v1/outages", "outages (JSON)"),
    ("/api/v1/availability", "availability per site (JSON)"),
    ("/api/v1/agents", "agents this collector pulls from (JSON)"),
    ("/api/v1/openapi.json", "API description (OpenAPI)"),
    ("/metrics", "collector metrics (Prometheus)"),
    ("/healthz", "health check"),
)
_AGENT_STATE = {True: "answering", False: "not answering", None: "not pulled yet"}
_MAP_LINK = ("/api/v1/districts.geojson", "districts with coverage and blankspots (GeoJSON)")


def _li(href: str, text: str) -> str:
    return f'<li><a href="{html.escape(href)}">{html.escape(href)}</a> {html.escape(text)}</li>'


def page(context: Any, has_map: bool) -> str:
    """The HTML of ``/`` for the running collector of ``context`` (an ``ApiContext``)."""
    c = context.collector
    now = c.clock()
    states = Counter(c.decision.label_at(site_id, now) for site_id in c.sites)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none"
    agents = "".join(
        f"<li>{html.escape(h.name or h.source)}: "
        f"{_AGENT_STATE[h.up]} ({_li_agent_metrics(h.source)})</li>"
        for h in c.agents
    )
    links = "".join(_li(h, t) for h, t in (*_LINKS, *([_MAP_LINK] if has_map else ())))
    docs = "".join(f"<li><code>{html.escape(p)}</code> {html.escape(t)}</li>" for p, t in DOCS)
    maps = (
        "<p>Maps for QGIS, Grafana and the browser: <code>pantau map</code> draws them from this "
        "API (README, Maps and blankspots).</p>"
        if has_map
        else "<p>Maps: no district layer here (set <code>[geo] districts</code> and install "
        "<code>pantau[geo]</code>); <code>pantau map</code> draws them from this API.</p>"
    )
    if states.get("unknown"):
        summary += (
            " (a site stays unknown until its agent has probed it for a few rounds; the agent's "
            "log says by when)"
        )
    starting = (
        "" if c.ready else "<p><b>Starting:</b> the first pull from the agents is running.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pantau collector</title>
<style>body{{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.4}}</style>
</head><body>
<h1>pantau collector {html.escape(__version__)}</h1>
{starting}<p>Watching {len(c.sites)} sites: {html.escape(summary)}.
Store: {html.escape(c.store.name)}.</p>
<h2>Agents</h2><ul>{agents or "<li>none configured ([collector] agents)</li>"}</ul>
<h2>API and metrics</h2><ul>{links}</ul>
{maps}<h2>Documentation</h2><ul>{docs}</ul>
<p>In the pantau source: <code>docs/</code>. Check a config: <code>pantau check-config FILE</code>.
</p></body></html>
"""


def _li_agent_metrics(source: str) -> str:
    url = source.rstrip("/") + "/metrics"
    return f'<a href="{html.escape(url)}">{html.escape(url)}</a>'


def register(app: web.Application, context: Any) -> None:
    """Add ``/`` to the collector's app."""

    config = getattr(context, "config", None)
    has_map = (
        config is not None
        and config.geo.districts is not None
        and importlib.util.find_spec("geopandas") is not None
    )

    async def home(_request: web.Request) -> web.Response:
        return web.Response(text=page(context, has_map), content_type="text/html")

    app.router.add_get("/", home)
