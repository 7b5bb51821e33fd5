"""The collector's HTTP API (aiohttp), documented by ``openapi.json`` served beside it.

Other parts add routes and metrics through :data:`EXTENSION_MODULES`: each module exposes
``register(app, context)`` and may call ``app.router.add_get(...)`` and
``context.registry.register(...)``; :func:`make_app` also takes extensions directly (tests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.util
import json
import logging
import math
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pantau.collector.availability import (
    Availability,
    Maintenance,
    availability,
    outage_seconds,
    site_windows,
)
from pantau.collector.health import health, read_problem
from pantau.collector.outages import Outage, Timeline, state_at
from pantau.collector.service import Collector
from pantau.collector.writes import WriteCounts, Writes
from pantau.config import Config
from pantau.errors import StoreError
from pantau.events import format_time, parse_time
from pantau.httplimits import BoundedRunner, ConnectionGuard, ServerLimits
from pantau.webconfig import WebConfig

log = logging.getLogger(__name__)

#: Connections the API keeps open at most; more are closed as they arrive (logged once), so slow
#: or idle clients can never use up the file descriptors that pulls and the store need.
MAX_CONNECTIONS = 512
#: Seconds a connection may stay without a complete request: idle keep-alive, or headers that
#: trickle in (aiohttp's keep-alive timer runs from the connection's start).
IDLE_TIMEOUT = 15.0
#: Seconds a response may take to be taken whole by its client (a slow reader is cut then).
WRITE_TIMEOUT = 60.0
#: Seconds a handler may run (long reports included) before it is cancelled.
REQUEST_TIMEOUT = 300.0
#: Modules adding routes/collectors to the collector's app; skipped when not installed.
EXTENSION_MODULES = ("pantau.collector.home", "pantau.geo.collector_ext")
DAY = 86400.0


@dataclasses.dataclass(frozen=True, slots=True)
class ApiContext:
    """What an extension may use: the running collector (sites, decision, store) and registry."""

    collector: Collector
    registry: CollectorRegistry
    config: Config | None = None  # the whole config, for extensions with sections of their own


Extension = Callable[[web.Application, ApiContext], None]
_CTX = web.AppKey("context", ApiContext)


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _time_param(request: web.Request, name: str, default: float | None) -> float | None:
    text = request.query.get(name)
    if text is None:
        return default
    try:  # Unix seconds too: exact to the bit, for callers recomputing the API's figures
        seconds = float(text)
        if math.isfinite(seconds):
            return seconds
    except ValueError:
        pass
    try:
        return parse_time(text)
    except ValueError:
        raise _bad(
            f"{name} must be an RFC 3339 time with offset, e.g. 2026-11-23T18:00:00Z, "
            f"or Unix seconds, got {text!r}"
        ) from None


def _check_query(request: web.Request, allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise _bad(f"unknown query parameter(s) {', '.join(unknown)}; use {', '.join(allowed)}")


def _t(value: float | None) -> str | None:
    """RFC 3339, or None for no time and for one no calendar can show (a store written before
    ingest refused such times must still answer)."""
    if value is None:
        return None
    try:
        return format_time(value)
    except (ValueError, OverflowError, OSError):
        return None


def outage_json(o: Outage, now: float, timeline: Timeline | None) -> dict[str, Any]:
    """An outage as the API shows it; the site's decided ``timeline`` says how much of it was
    observed up to ``now`` (None for a site no longer decided: the stored figures)."""
    end = o.end if o.end is not None else now
    observed, unobserved = (
        (o.duration(now), o.unobserved)
        if timeline is None
        else outage_seconds(timeline, o.start, end)
    )
    return {
        "site": o.site,
        "district": o.district,
        "start": _t(o.start),
        "end": _t(o.end),
        "duration_seconds": round(observed, 3),
        "unobserved_seconds": round(unobserved, 3),
        "open": o.end is None,
        "cause": o.cause,
        "agents": list(o.agents),
        "hop": o.hop,
        "flapping": o.flapping,
        "transitions": o.transitions,
    }


def avail_json(a: Availability) -> dict[str, Any]:
    """One site's or district's figures (docs/contracts.md, "How availability is computed")."""
    return {
        "ratio": a.ratio,
        "up_seconds": a.up_seconds,
        "down_seconds": a.down_seconds,
        "unreachable_seconds": a.unreachable_seconds,
        "maintenance_seconds": a.maintenance_seconds,
        "unknown_seconds": a.unknown_seconds,
        "observed_seconds": a.observed_seconds,
        "period_seconds": a.period_seconds,
        "data_ratio": a.data_ratio,
    }


def _maint_json(w: Maintenance) -> dict[str, Any]:
    return {
        "id": w.id,
        "start": _t(w.start),
        "end": _t(w.end),
        "site": w.site,
        "district": w.district,
        "reason": w.reason,
    }


async def _outages(request: web.Request) -> web.Response:
    allowed = ("site", "district", "open", "from", "to", "limit")
    _check_query(request, allowed)
    c = request.app[_CTX].collector
    q = request.query
    if q.get("open") not in (None, "true", "false"):
        raise _bad(f"open must be true or false, got {q['open']!r}")
    if not q.get("limit", "1000").isdigit() or not 1 <= int(q.get("limit", "1000")) <= 10000:
        raise _bad(f"limit must be an integer from 1 to 10000, got {q['limit']!r}")
    found = await asyncio.to_thread(
        c.store.outages,
        q.get("site"),
        q.get("district"),
        None if "open" not in q else q["open"] == "true",
        _time_param(request, "from", None),
        _time_param(request, "to", None),
        int(q.get("limit", "1000")),
    )
    now = c.clock()
    timelines = c.decision.timelines
    listed = [outage_json(o, now, timelines.get(o.site)) for o in found]
    for item in listed:  # the district's name travels with its code
        item["district_name"] = c.district_names.get(item["district"] or "")
    return web.json_response({"outages": listed})


async def _sites(request: web.Request) -> web.Response:
    _check_query(request, ())
    c = request.app[_CTX].collector
    now, out = c.clock(), []
    for site in c.sites.values():
        timeline = c.decision.timelines.get(site.id, ())
        outs = c.decision.outages.get(site.id, ())
        current = outs[-1] if outs and outs[-1].end is None else None
        out.append(
            {
                "id": site.id,
                "name": site.name,
                "kind": site.kind,
                "district": site.district,
                "district_name": c.district_names.get(site.district or ""),
                "parent": site.parent,
                "ups": site.ups,
                "lat": site.lat,
                "lon": site.lon,
                "state": c.decision.label_at(site.id, now),
                "since": _t(timeline[-1][0])
                if timeline and state_at(timeline, now) != "unknown"
                else None,
                "outage": outage_json(current, now, timeline) if current else None,
            }
        )
    return web.json_response({"time": _t(now), "sites": out})


async def _availability(request: web.Request) -> web.Response:
    _check_query(request, ("from", "to", "site", "district"))
    c = request.app[_CTX].collector
    now = c.clock()
    end = _time_param(request, "to", None)
    end = now if end is None else end
    start = _time_param(request, "from", None)
    start = end - DAY if start is None else start
    if end <= start:
        raise _bad("to must be after from")
    refs = [
        r
        for r in c.refs.values()
        if request.query.get("site", r.id) == r.id
        and request.query.get("district", r.district) == r.district
    ]
    # Seconds of CPU at 10,000 sites: off the event loop, so pulls and other clients go on.
    sites, districts = await asyncio.to_thread(
        availability, c.decision, refs, start, end, list(c.maintenance), now=now
    )
    return web.json_response(
        {
            "from": _t(start),
            "to": _t(end),
            "observed_to": _t(max(start, min(end, now))),
            "sites": {k: avail_json(v) for k, v in sites.items()},
            "districts": {k: avail_json(v) for k, v in sorted(districts.items())},
        }
    )


async def _timelines(request: web.Request) -> web.Response:
    """Each site's decided timeline within [from, to) and the maintenance windows covering it.

    Times are Unix seconds (exact floats), so a caller computing figures with
    :func:`pantau.collector.availability.figures` gets the API's own numbers.
    """
    _check_query(request, ("from", "to"))
    c = request.app[_CTX].collector
    now = c.clock()
    end = _time_param(request, "to", None)
    end = now if end is None else end
    start = _time_param(request, "from", None)
    start = end - DAY if start is None else start
    if end <= start:
        raise _bad("to must be after from")
    windows = site_windows(c.maintenance, c.refs.values())
    out = {}
    for ref in c.refs.values():
        timeline = c.decision.timelines.get(ref.id, ())
        first = state_at(timeline, start)
        clipped = [[start, first]] if timeline and timeline[0][0] <= start else []
        clipped += [[t, s] for t, s in timeline if start < t < end]
        out[ref.id] = {
            "district": ref.district,
            "parent": ref.parent,
            "timeline": clipped,
            "maintenance": [[a, b] for a, b in windows.get(ref.id, ()) if b > start and a < end],
        }
    return web.json_response(
        {"from": start, "to": end, "now": now, "sites": out, "districts": dict(c.district_names)}
    )


async def _maintenance_get(request: web.Request) -> web.Response:
    c = request.app[_CTX].collector
    return web.json_response({"maintenance": [_maint_json(w) for w in c.maintenance]})


async def _agents(request: web.Request) -> web.Response:
    c = request.app[_CTX].collector
    now = c.clock()
    isolated = c.isolated_agents(now)
    return web.json_response(
        {
            "agents": [
                {
                    "source": h.source,
                    "agent": h.name,
                    "up": h.up,
                    "isolated": h.name in isolated,
                    "caught_up": _t(h.caught_up),
                    "ingested": h.ingested,
                    "missed": h.missed,
                    "rejected": dict(h.rejected),
                    "lost": dict(h.lost),
                    "held": dict(h.held),
                    "clock_offset_seconds": h.clock_offset,
                    "identity_conflict": h.conflict,
                }
                for h in c.agents
            ]
        }
    )


async def _healthz(request: web.Request) -> web.Response:
    """200 ``ok`` (warnings listed), 503 ``degraded`` naming each problem, 503 ``starting``."""
    c = request.app[_CTX].collector
    now = c.clock()
    problems = c.problems(now)
    try:
        await asyncio.to_thread(c.store.dirty)  # a read: the store is there at all
    except StoreError as exc:
        detail = _first_line(exc.__cause__) if exc.__cause__ else str(exc)
        problems.insert(0, read_problem(str(exc), detail, c.store.name, c.store.health.path, now))
    status, body = health(problems, c.ready)
    return web.json_response(body, status=status)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def _metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(generate_latest, request.app[_CTX].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _openapi(_request: web.Request) -> web.Response:
    text = resources.files("pantau.collector").joinpath("openapi.json").read_text("utf-8")
    return web.Response(text=text, content_type="application/json")


@web.middleware
async def _store_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A store that cannot be read is a 503 naming it (``/healthz`` says why), never a 500."""
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except StoreError as exc:
        return web.json_response({"error": str(exc)}, status=503)


def installed_extensions() -> list[Extension]:
    """``register`` of every module in :data:`EXTENSION_MODULES` that is installed."""
    found = []
    for name in EXTENSION_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found.append(importlib.import_module(name).register)
    return found


def make_app(
    collector: Collector,
    registry: CollectorRegistry,
    extensions: Iterable[Extension] = (),
    config: Config | None = None,
) -> web.Application:
    """The collector's aiohttp application; ``extensions`` add their routes and collectors."""
    app = web.Application(middlewares=[_store_errors])
    ctx = ApiContext(collector, registry, config)
    app[_CTX] = ctx
    r = app.router
    r.add_get("/api/v1/outages", _outages)
    r.add_get("/api/v1/sites", _sites)
    r.add_get("/api/v1/availability", _availability)
    r.add_get("/api/v1/timelines", _timelines)
    r.add_get("/api/v1/maintenance", _maintenance_get)
    counts = WriteCounts()
    registry.register(counts)
    writes = Writes(collector, counts, _maint_json)
    r.add_post("/api/v1/maintenance", writes.add)
    r.add_delete("/api/v1/maintenance/{id}", writes.delete)
    r.add_get("/api/v1/audit", writes.audit)
    r.add_get("/api/v1/agents", _agents)
    r.add_post("/api/v1/agents/accept", writes.accept_agent)
    r.add_get("/api/v1/openapi.json", _openapi)
    r.add_get("/healthz", _healthz)
    r.add_get("/metrics", _metrics)
    for register in extensions:
        register(app, ctx)
    return app


async def start_api(
    app: web.Application,
    listen: str,
    max_connections: int = MAX_CONNECTIONS,
    idle_timeout: float = IDLE_TIMEOUT,
    *,
    web_config: WebConfig | None = None,
    write_timeout: float = WRITE_TIMEOUT,
    registry: CollectorRegistry | None = None,
) -> web.AppRunner:
    """Serve the collector's ``app`` on ``HOST:PORT`` with bounded, timed-out connections.

    Connections beyond ``max_connections`` are closed as they arrive; one without a whole
    request within ``idle_timeout`` (headers trickling, idle keep-alive) is closed; a response
    the client has not taken whole within ``write_timeout`` is aborted; a handler is cancelled
    after :data:`REQUEST_TIMEOUT` (:mod:`pantau.httplimits`). The closures are counted in
    ``registry`` (``pantau_http_connections_closed_total``). With ``web_config`` every route
    needs one of its users (basic auth) and TLS is served when it has ``tls_server_config``.
    """
    limits = ServerLimits(
        max_connections=max_connections,
        header_timeout=idle_timeout,
        keepalive_timeout=idle_timeout,
        request_timeout=REQUEST_TIMEOUT,
        write_timeout=write_timeout,
    )
    guard = ConnectionGuard(limits, "collector API")
    guard.install(app)
    if registry is not None:
        registry.register(guard)
    host, _, port = listen.rpartition(":")
    if web_config is not None:  # inside the guard's deadlines
        app.middlewares.insert(1, web_config.middleware())
    runner = BoundedRunner(app, guard, access_log=None)
    await runner.setup()
    tls = None if web_config is None else web_config.ssl_context
    await web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=tls).start()
    return runner
