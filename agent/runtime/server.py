"""The agent's HTTP API: ``/metrics``, ``/api/v1/events`` and ``/healthz`` (aiohttp)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pantau.agent.runtime import exposition
from pantau.agent.runtime.eventlog import EventLog
from pantau.agent.runtime.exposition import TextFamily
from pantau.errors import StoreError
from pantau.events import format_time
from pantau.webconfig import WebConfig

log = logging.getLogger(__name__)

DEFAULT_LIMIT, MAX_LIMIT = 1000, 10000
_REGISTRY = web.AppKey("registry", CollectorRegistry)
_EVENTLOG = web.AppKey("eventlog", EventLog)
_AGENT = web.AppKey("agent", str)
_CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
Families = Callable[[], Iterable[TextFamily]]
_FAMILIES: web.AppKey[Families] = web.AppKey("families")


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
    # Both parts are snapshots taken now, before the first await; the per-site families are
    # then formatted while they are written, a slice at a time (see
    # pantau.agent.runtime.exposition).
    head = generate_latest(request.app[_REGISTRY])
    families = request.app[_FAMILIES]()
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
    await response.prepare(request)
    try:
        await response.write(head)
        await exposition.stream(families, response.write)
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
        page = await asyncio.to_thread(eventlog.read, after, limit)
        high_water = await asyncio.to_thread(eventlog.high_water)
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
            "high_water": high_water,
            "now": format_time(request.app[_CLOCK]()),
        }
    )


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "agent": request.app[_AGENT]})


def make_app(
    registry: CollectorRegistry,
    eventlog: EventLog,
    agent: str,
    families: Families = tuple,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The aiohttp application serving the agent's endpoints.

    ``/metrics`` is ``registry``'s exposition followed by ``families()`` (the per-site families).
    """
    app = web.Application()
    app[_REGISTRY] = registry
    app[_FAMILIES] = families
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

    With ``web_config`` every route needs one of its users (basic auth) and TLS is served when
    it has ``tls_server_config``.
    """
    host, _, port = listen.rpartition(":")
    if web_config is not None:
        app.middlewares.insert(0, web_config.middleware())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = None if web_config is None else web_config.ssl_context
    site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=tls)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port the runner listens on (useful with port 0)."""
    return int(runner.addresses[0][1])
