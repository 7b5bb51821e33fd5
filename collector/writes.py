"""The collector's write path: maintenance windows added and deleted, guarded and audited.

Writes are off unless ``[collector] writers`` names web config users; a request then needs one
of them (401 without credentials is the web config middleware's, 403 here for a reader). A write
must be JSON (``Content-Type: application/json``, which a browser form cannot send), from no
other origin (``Origin`` and ``Sec-Fetch-Site``), at most :data:`MAX_BODY` bytes, with a bounded
reason, window length and years. Every accepted write is stored with its audit record in one
transaction; ``GET /api/v1/audit`` and ``pantau_collector_writes_total`` show them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, Metric

from pantau.collector.audit import AuditRecord
from pantau.collector.availability import Maintenance
from pantau.collector.service import Collector
from pantau.errors import StoreError
from pantau.events import parse_time
from pantau.webconfig import USER

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
MAX_REASON = 500
MAX_WINDOW_DAYS = 31
YEARS = (2000, 2099)
RESULTS = ("ok", "refused", "invalid")
ACTIONS = ("maintenance.add", "maintenance.delete", "agent.accept")


class WriteCounts:
    """``pantau_collector_writes_total{action, result}`` since start."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "pantau_collector_writes",
            "Write requests to the API by action and result (ok, refused, invalid)",
            labels=["action", "result"],
        )
        for action in ACTIONS:
            for result in RESULTS:
                family.add_metric([action, result], self.counts[(action, result)])
        return [family]


_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    415: web.HTTPUnsupportedMediaType,
}


def _error(status: int, message: str) -> web.HTTPException:
    body = json.dumps({"error": message})
    if status == 413:
        return web.HTTPRequestEntityTooLarge(
            MAX_BODY, MAX_BODY + 1, text=body, content_type="application/json"
        )
    return _STATUS[status](text=body, content_type="application/json")


def _cross_origin(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    parts = urlsplit(origin)
    return parts.scheme != request.scheme or parts.netloc != request.host


def guard(request: web.Request, collector: Collector) -> str:
    """The writing user; raises 403 (writes off, reader, other origin) or 415 (not JSON)."""
    writers = collector.config.writers
    user = request.get(USER)
    if not writers:
        raise _error(
            403,
            "writes are off: list the users who may write in [collector] writers "
            "(users of [collector] web_config)",
        )
    if user not in writers:
        raise _error(403, f"user {user!r} may read but not write; writers are in [collector]")
    if _cross_origin(request):
        raise _error(
            403,
            "cross-origin write refused: write with a script or curl, not from another site's page",
        )
    needs_body = request.method != "DELETE" or request.body_exists
    if needs_body and request.content_type != "application/json":
        raise _error(415, "writes must be JSON: send Content-Type: application/json")
    if (request.content_length or 0) > MAX_BODY:
        raise _error(413, f"body larger than {MAX_BODY} bytes")
    return str(user)


def _time(body: dict[str, Any], key: str) -> float:
    if key not in body:
        raise _error(400, f"field {key!r} is required (RFC 3339 time)")
    try:
        value = parse_time(str(body[key]))
    except (ValueError, OverflowError) as exc:
        raise _error(400, f"start/end must be RFC 3339 times with offset: {exc}") from None
    low = datetime(YEARS[0], 1, 1, tzinfo=UTC).timestamp()
    high = datetime(YEARS[1] + 1, 1, 1, tzinfo=UTC).timestamp()
    if not low <= value < high:
        raise _error(400, f"{key} must be in the years {YEARS[0]}-{YEARS[1]}")
    return value


def _name(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > 64):
        raise _error(400, f"{key} must be a string of at most 64 characters")
    return value


def parse_window(body: Any, collector: Collector) -> Maintenance:
    """A checked window from a request body; raises 400 naming the field and the limit."""
    if not isinstance(body, dict):
        raise _error(400, "body must be a JSON object with start, end and site or district")
    unknown = sorted(set(body) - {"start", "end", "site", "district", "reason"})
    if unknown:
        raise _error(
            400, f"unknown field(s) {', '.join(unknown)}; use start, end, site, district, reason"
        )
    start, end = _time(body, "start"), _time(body, "end")
    if end <= start:
        raise _error(400, "end must be after start")
    if end - start > MAX_WINDOW_DAYS * 86400:
        raise _error(400, f"a window lasts at most {MAX_WINDOW_DAYS} days; split longer ones")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise _error(400, f"reason must be a string of at most {MAX_REASON} characters")
    site, district = _name(body, "site"), _name(body, "district")
    if site is not None and site not in collector.sites:
        raise _error(400, f"site {site!r} is not in the inventory")
    if district is not None and district not in {s.district for s in collector.sites.values()}:
        raise _error(400, f"district {district!r} has no site in the inventory")
    return Maintenance(start, end, site, district, reason)


async def _json_body(request: web.Request) -> Any:
    raw = b""
    while len(raw) <= MAX_BODY:  # each turn reads at least a byte or ends: bounded
        chunk = await request.content.read(MAX_BODY + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > MAX_BODY:
        raise _error(413, f"body larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _error(400, "body is not JSON") from None


class Writes:
    """The write handlers over one collector, counting what they answer."""

    def __init__(
        self, collector: Collector, counts: WriteCounts, render: Callable[[Maintenance], Any]
    ) -> None:
        self.collector, self.counts, self._render = collector, counts, render

    def _record(
        self, request: web.Request, user: str, action: str, target: str, detail: Any
    ) -> AuditRecord:
        return AuditRecord(
            self.collector.clock(),
            user,
            request.remote or "",
            action,
            target,
            json.dumps(detail, sort_keys=True),
        )

    async def _guarded(
        self,
        request: web.Request,
        action: str,
        work: Callable[[str], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        try:
            user = guard(request, self.collector)
            response = await work(user)
        except web.HTTPException as exc:
            result = "refused" if exc.status in (401, 403, 415) else "invalid"
            self.counts.counts[(action, result)] += 1
            log.info(
                "write refused action=%s status=%d user=%s remote=%s",
                action,
                exc.status,
                request.get(USER),
                request.remote,
            )
            raise
        self.counts.counts[(action, "ok")] += 1
        return response

    async def add(self, request: web.Request) -> web.StreamResponse:
        async def work(user: str) -> web.StreamResponse:
            window = parse_window(await _json_body(request), self.collector)
            detail = {k: v for k, v in dataclasses.asdict(window).items() if k != "id"}
            record = self._record(request, user, "maintenance.add", "maintenance", detail)
            made = await self.collector.add_maintenance(window, record)
            log.info(
                "maintenance window added id=%s site=%s district=%s user=%s remote=%s",
                made.id,
                made.site,
                made.district,
                user,
                request.remote,
            )
            return web.json_response(self._render(made), status=201)

        return await self._guarded(request, "maintenance.add", work)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        async def work(user: str) -> web.StreamResponse:
            text = request.match_info["id"]
            if not text.isdigit() or len(text) > 18:
                raise _error(400, f"window id must be a positive integer, got {text!r}")
            target = f"maintenance/{int(text)}"
            record = self._record(request, user, "maintenance.delete", target, {})
            if not await self.collector.delete_maintenance(int(text), record):
                raise _error(404, f"no stored window {text} (windows of the config file stay)")
            log.info(
                "maintenance window deleted id=%s user=%s remote=%s", text, user, request.remote
            )
            return web.Response(status=204)

        return await self._guarded(request, "maintenance.delete", work)

    async def accept_agent(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/v1/agents/accept {"source": URL}``: adopt the identity now answering at an
        agent URL whose pages were refused as another agent's (a write: writers only, audited)."""

        async def work(user: str) -> web.StreamResponse:
            body = await _json_body(request)
            if not isinstance(body, dict) or set(body) != {"source"}:
                raise _error(400, 'body must be {"source": URL}, a URL of [collector] agents')
            source = body["source"]
            if not isinstance(source, str) or len(source) > 2048:
                raise _error(400, "source must be a URL of [collector] agents")
            try:
                accepted = await self.collector.accept_identity(source)
            except KeyError:
                raise _error(400, f"{source!r} is not in [collector] agents") from None
            except (OSError, TimeoutError, ValueError) as exc:  # the agent cannot be read now
                return web.json_response({"error": f"agent not readable: {exc}"}, status=503)
            if accepted is None:
                raise _error(400, f"{source!r} has no identity conflict to accept")
            record = self._record(request, user, "agent.accept", source, {"accepted": accepted})
            await asyncio.to_thread(self.collector.store.add_audit, record)
            log.warning(
                "agent identity accepted source=%s user=%s remote=%s", source, user, request.remote
            )
            return web.json_response({"source": source, "accepted": accepted})

        return await self._guarded(request, "agent.accept", work)

    async def audit(self, request: web.Request) -> web.Response:
        """``GET /api/v1/audit?limit=N``: the newest writes, newest first."""
        return await audit_get(request, self.collector)


async def audit_get(request: web.Request, collector: Collector) -> web.Response:
    """``GET /api/v1/audit?limit=N``: the newest writes, newest first."""
    text = request.query.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= 10000:
        raise _error(400, f"limit must be an integer from 1 to 10000, got {text!r}")
    try:
        records = await asyncio.to_thread(collector.store.audit, int(text))
    except StoreError as exc:
        return web.json_response({"error": str(exc)}, status=503)
    return web.json_response({"audit": [r.to_json() for r in records]})
