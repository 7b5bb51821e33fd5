"""Bounds on an HTTP server's clients (agent and collector), so slow or numerous clients never
hold the process up.

* ``max_connections``: a connection beyond the bound is closed as soon as it is accepted, so
  hundreds of idle clients cannot use up the process's file descriptors (issue 12; the systemd
  units also set ``LimitNOFILE``).
* ``header_timeout``: a connection that has not sent a whole first request by then is closed
  (a client trickling header bytes, or sending nothing).
* ``keepalive_timeout``: aiohttp closes a connection idle between requests after that long; a
  later request whose headers trickle is bounded by it too (aiohttp's timer is not reset by
  partial requests).
* ``request_timeout``: a handler is cancelled after that long.
* ``write_timeout``: a response the client has not taken whole that long after it started (a
  client reading a few bytes a second, or nothing) is aborted: the connection is reset and the
  buffered body freed. The asyncio transport's ``close()`` would wait for the client forever.

Every connection closed by a bound is counted by cause (:data:`CAUSES`), exported as
``pantau_http_connections_closed_total{cause}`` (:class:`ConnectionGuard` is a Prometheus
collector) and logged once per cause, then at most once per :data:`LOG_EVERY` seconds with the
count since: a storm of slow clients writes a few lines, not one per connection.

One :class:`ConnectionGuard` per app: :meth:`~ConnectionGuard.install` puts its middleware and
response hook into the app, and :class:`BoundedRunner` routes accepted connections through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Why a connection was closed by the server (label values of the metric).
CAUSES = ("max_connections", "header_timeout", "request_timeout", "write_timeout")
#: Seconds between two log lines of one cause (the first one is logged at once).
LOG_EVERY = 300.0


@dataclasses.dataclass(frozen=True, slots=True)
class ServerLimits:
    """How many clients, and how slow, an HTTP server tolerates."""

    max_connections: int = 256
    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    request_timeout: float = 60.0
    write_timeout: float = 60.0


class _Refuse(asyncio.Protocol):
    """Closes the connection it is given (the connection bound is reached)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close at once with a TCP reset, dropping what the client has not taken.

    ``close()`` would wait for the client to read the buffer, and even a plain close of the socket
    leaves the kernel sending its buffered bytes (and the FIN after them) to a client that never
    reads; linger 0 makes the close a reset, freeing both buffers.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert isinstance(transport, asyncio.WriteTransport)
    transport.abort()


class ConnectionGuard(Collector):
    """Applies :class:`ServerLimits` to one app's connections and requests; counts closures."""

    def __init__(self, limits: ServerLimits, server_name: str = "http") -> None:
        self.limits = limits
        self.server_name = server_name  # in log lines: "agent", "collector API"
        self.closed: Counter[str] = Counter()
        self._logged: dict[str, tuple[float, int]] = {}  # cause -> (time, count) at last line
        # Connections still waiting for their first whole request: id -> header deadline timer.
        # (aiohttp's RequestHandler takes no weak references; the timer holds it <= timeout.)
        self._waiting: dict[int, asyncio.TimerHandle] = {}
        # Responses being written: transport id -> write deadline timer (the latest response).
        self._writing: dict[int, asyncio.TimerHandle] = {}

    # -- counting ---------------------------------------------------------------------------

    def _close(self, cause: str) -> None:
        """Count one connection closed for ``cause``; log once per cause per LOG_EVERY."""
        self.closed[cause] += 1
        now = asyncio.get_running_loop().time()
        last = self._logged.get(cause)
        if last is not None and now - last[0] < LOG_EVERY:
            return
        since = self.closed[cause] - (last[1] if last else 0)
        self._logged[cause] = (now, self.closed[cause])
        log.warning(
            "%s connections closed by a client bound cause=%s closed=%d total=%d "
            "next_log_within_seconds=%d",
            self.server_name,
            cause,
            since,
            self.closed[cause],
            LOG_EVERY,
        )

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "pantau_http_connections_closed",
            "HTTP connections closed by the server's client bounds, by cause",
            labels=["cause"],
        )
        for cause in CAUSES:
            family.add_metric([cause], self.closed[cause])
        yield family

    # -- wiring -----------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        """Put the request deadline (outermost middleware) and the write deadline into ``app``."""
        app.middlewares.insert(0, self.middleware)
        app.on_response_prepare.append(self._on_prepare)

    def factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """``server``'s protocol factory with the connection bound and the header deadline."""

        def accept() -> asyncio.BaseProtocol:
            if len(server.connections) >= self.limits.max_connections:
                self._close("max_connections")
                return _Refuse()
            handler = server()
            self._waiting[id(handler)] = asyncio.get_running_loop().call_later(
                self.limits.header_timeout, self._header_expired, handler
            )
            return handler

        return accept

    # -- deadlines --------------------------------------------------------------------------

    def _header_expired(self, handler: RequestHandler) -> None:
        self._waiting.pop(id(handler), None)
        transport = handler.transport
        if transport is None:  # already gone
            return
        self._close("header_timeout")
        handler.force_close()  # may close the transport itself (when waiting for a request)
        transport.close()

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        timer = self._waiting.pop(id(request.protocol), None)
        if timer is not None:  # a response made outside our middleware (401 of the auth one)
            timer.cancel()
        transport = request.transport
        if transport is None:
            return
        key = id(transport)
        old = self._writing.pop(key, None)
        if old is not None:
            old.cancel()
        self._writing[key] = asyncio.get_running_loop().call_later(
            self.limits.write_timeout, self._write_expired, transport
        )

    def _write_expired(self, transport: asyncio.BaseTransport) -> None:
        self._writing.pop(id(transport), None)
        assert isinstance(transport, asyncio.WriteTransport)  # aiohttp's TCP/TLS transports
        if transport.is_closing() or transport.get_write_buffer_size() == 0:
            return  # gone, or everything was handed to the kernel: the client is reading
        self._close("write_timeout")
        _reset(transport)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Note the connection delivered a request; cancel the handler at ``request_timeout``."""
        timer = self._waiting.pop(id(request.protocol), None)
        if timer is not None:
            timer.cancel()
        try:
            return await asyncio.wait_for(handler(request), self.limits.request_timeout)
        except TimeoutError:
            self._close("request_timeout")
            if request.transport is not None:
                _reset(request.transport)
            raise web.HTTPServiceUnavailable(text="request deadline exceeded") from None


class BoundedRunner(web.AppRunner):
    """An ``AppRunner`` whose sites accept connections through a :class:`ConnectionGuard`."""

    def __init__(self, app: web.Application, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=guard.limits.keepalive_timeout, **kwargs)
        self._guard = guard
        self._accept: tuple[web.Server, Callable[[], asyncio.BaseProtocol]] | None = None

    @property
    def server(self) -> Any:
        # TCPSite (and any other site) calls this as its protocol factory.
        real = super().server
        if real is None:
            return None
        if self._accept is None or self._accept[0] is not real:
            self._accept = (real, self._guard.factory(real))
        return self._accept[1]
