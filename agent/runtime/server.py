"""The agent's HTTP API: ``/metrics``, ``/api/v1/events`` and ``/healthz`` (aiohttp)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pantau.agent.runtime.eventlog import EventLog
from pantau.agent.runtime.exposition import TextFamily
from pantau.agent.runtime.health import Problem
from pantau.agent.runtime.scrape import SharedRender, accepts_gzip, write_inflated
from pantau.errors import StoreError
from pantau.events import format_time
from pantau.httplimits import BoundedRunner, ConnectionGuard, ServerLimits
from pantau.webconfig import WebConfig

log = logging.getLogger(__name__)

DEFAULT_LIMIT, MAX_LIMIT = 1000, 10000
#: Seconds a whole /metrics body is served again as it is (scrapers polling back to back).
REUSE_BODY_FOR = 1.0
#: Bytes of a gzip /metrics body handed to the transport per write.
WRITE_SLICE = 64 * 1024
_REGISTRY = web.AppKey("registry", CollectorRegistry)
_EVENTLOG = web.AppKey("eventlog", EventLog)
_AGENT = web.AppKey("agent", str)
_CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
_RENDER = web.AppKey("render", SharedRender)
_GUARD = web.AppKey("guard", ConnectionGuard)
Families = Callable[[], Iterable[TextFamily]]
_FAMILIES: web.AppKey[Families] = web.AppKey("families")
Health = Callable[[], Sequence[Problem]]
_HEALTH: web.AppKey[Health] = web.AppKey("health")
Dropped = Callable[[], int]
_DROPPED: web.AppKey[Dropped] = web.AppKey("dropped")


def _no_problems() -> Sequence[Problem]:
    return ()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """Read an integer query parameter; raise a 400 naming it and the allowed range."""
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        message = f"{name} must be an integer from {low} to {high}, got {text!r}"
        raise web.HTTPBadRequest(
            text=json.dumps({"error": message}), content_type="application/json"
        )
    return value


async def _metrics(request: web.Request) -> web.StreamResponse:
    # One render shared by concurrent scrapes, kept gzipped (pantau.agent.runtime.scrape); the
    # body is written inside the handler, so the request deadline covers a slow reader too.
    gz = await request.app[_RENDER].gzipped()
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
    response.headers["Vary"] = "Accept-Encoding"
    gzip_ok = accepts_gzip(request.headers.get("Accept-Encoding"))
    if gzip_ok:
        response.headers["Content-Encoding"] = "gzip"
        response.content_length = sum(map(len, gz))
    try:
        await response.prepare(request)
        if gzip_ok:
            # A slice at a time: the transport copies what the socket does not take at once,
            # so a slow scraper holds one slice, not a copy of the whole body.
            for part in gz:
                view = memoryview(part)
                for start in range(0, len(part), WRITE_SLICE):
                    await response.write(view[start : start + WRITE_SLICE])
        else:
            await write_inflated(gz, response.write)
        await response.write_eof()
    except ConnectionResetError:  # the scraper went away (timeout): nothing to answer
        log.debug("metrics scrape aborted by the client")
    return response


async def _events(request: web.Request) -> web.Response:
    unknown = sorted(set(request.query) - {"after", "limit"})
    if unknown:
        return _error(400, f"unknown query parameter(s) {', '.join(unknown)}; use after, limit")
    after = _int_param(request, "after", 0, 0, 2**63 - 1)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    eventlog = request.app[_EVENTLOG]
    try:
        # The high-water mark comes from the same locked read as the page: read apart, an event
        # recorded in between was announced but not delivered, and the collector's clock check
        # (events recorded after the previous pull) then passed it unjudged next time.
        page = await asyncio.to_thread(eventlog.read, after, limit)
    except StoreError as exc:
        log.error("event log read failed error=%s", exc)
        return _error(503, str(exc))
    return web.json_response(
        {
            "agent": request.app[_AGENT],
            "log_id": eventlog.log_id,
            "events": [e.to_json() for e in page.events],
            "next": page.next,
            "oldest": page.oldest,
            "more": page.more,
            # For the collector's checks: a log that went back in time, the agent's clock.
            "high_water": page.high_water,
            "now": format_time(request.app[_CLOCK]()),
            "dropped": request.app[_DROPPED](),
        }
    )


async def _healthz(request: web.Request) -> web.Response:
    problems = [p.to_json() for p in request.app[_HEALTH]()]
    critical = any(p["severity"] == "critical" for p in problems)
    return web.json_response(
        {
            "status": "degraded" if critical else "ok",
            "agent": request.app[_AGENT],
            "problems": problems,
        },
        status=503 if critical else 200,
    )


def make_app(
    registry: CollectorRegistry,
    eventlog: EventLog,
    agent: str,
    families: Families = tuple,
    clock: Callable[[], float] = time.time,
    *,
    health: Health = _no_problems,
    dropped: Dropped | None = None,
    limits: ServerLimits | None = None,
    render_key: Callable[[], Hashable] = object,
    reuse_body_for: float = REUSE_BODY_FOR,
) -> web.Application:
    """The aiohttp application serving the agent's endpoints.

    ``/metrics`` is ``registry``'s exposition followed by ``families()`` (the per-site families).
    ``/healthz`` answers 503 while ``health()`` lists a critical problem. The events API's
    ``dropped`` is ``dropped()`` (default: the log's own count). ``limits`` bound slow and
    numerous clients (:class:`ServerLimits`); :func:`start_server` applies the connection ones.
    ``render_key()`` changes whenever ``families()`` would (see
    :class:`~pantau.agent.runtime.scrape.SharedRender`); by default every scrape renders.
    A whole body is served again as it is for ``reuse_body_for`` seconds.
    """
    guard = ConnectionGuard(limits or ServerLimits(), "agent")
    app = web.Application()
    guard.install(app)
    registry.register(guard)  # pantau_http_connections_closed_total
    app[_REGISTRY] = registry
    app[_FAMILIES] = families
    app[_RENDER] = SharedRender(
        lambda: generate_latest(registry), families, render_key, reuse_for=reuse_body_for
    )
    app[_GUARD] = guard
    app[_HEALTH] = health
    app[_DROPPED] = dropped or eventlog.dropped
    app[_EVENTLOG] = eventlog
    app[_AGENT] = agent
    app[_CLOCK] = clock
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/api/v1/events", _events)
    app.router.add_get("/healthz", _healthz)
    return app


async def start_server(
    app: web.Application, listen: str, web_config: WebConfig | None = None
) -> web.AppRunner:
    """Serve ``app`` on ``HOST:PORT`` (port 0 picks a free one); return the runner to stop it.

    Connections beyond ``max_connections`` are closed at once, a connection that has not sent a
    whole first request within ``header_timeout`` is closed, one idle between requests for
    ``keepalive_timeout`` too, and a response not taken whole by the client within
    ``write_timeout`` is aborted (the :class:`ServerLimits` given to :func:`make_app`). With
    ``web_config`` every route needs one of its users (basic auth) and TLS is served when it has
    ``tls_server_config``.
    """
    guard = app.get(_GUARD)
    if guard is None:
        guard = ConnectionGuard(ServerLimits(), "agent")
        guard.install(app)
    host, _, port = listen.rpartition(":")
    if web_config is not None:  # inside the guard's deadlines
        app.middlewares.insert(1, web_config.middleware())
    runner = BoundedRunner(app, guard, access_log=None)
    await runner.setup()
    tls = None if web_config is None else web_config.ssl_context
    site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=tls)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port the runner listens on (useful with port 0)."""
    return int(runner.addresses[0][1])
