"""Bounds on the agent's HTTP clients, so slow or numerous clients never hold the agent up.

* ``max_connections``: a connection beyond the bound is closed as soon as it is accepted
  (counted in ``refused``, logged once per 1000), so hundreds of idle clients cannot use up the
  process's file descriptors (issue 12; the systemd unit also sets ``LimitNOFILE``).
* ``header_timeout``: a connection that has not sent a whole first request by then is closed
  (a client trickling header bytes, or sending nothing).
* ``keepalive_timeout``: aiohttp closes a connection idle between requests after that long.
* ``request_timeout``: a handler, including writing its body to a slow reader, is cancelled
  after that long.

One :class:`ConnectionGuard` per app: its :meth:`~ConnectionGuard.middleware` goes into the app,
and :class:`BoundedRunner` routes accepted connections through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True, slots=True)
class ServerLimits:
    """How many clients, and how slow, the agent's HTTP server tolerates."""

    max_connections: int = 256
    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    request_timeout: float = 60.0


class _Refuse(asyncio.Protocol):
    """Closes the connection it is given (the connection bound is reached)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class ConnectionGuard:
    """Applies :class:`ServerLimits` to one app's connections and requests."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.refused = 0  # connections closed at accept (bound reached)
        self.timed_out = 0  # connections closed before a whole first request
        self.over_deadline = 0  # requests cancelled at request_timeout
        # Connections still waiting for their first whole request: id -> header deadline timer.
        # (aiohttp's RequestHandler takes no weak references; the timer holds it <= timeout.)
        self._waiting: dict[int, asyncio.TimerHandle] = {}

    def factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """``server``'s protocol factory with the connection bound and the header deadline."""

        def accept() -> asyncio.BaseProtocol:
            if len(server.connections) >= self.limits.max_connections:
                self.refused += 1
                if self.refused % 1000 == 1:  # never a log line per connection
                    log.warning(
                        "http connection refused, too many open max_connections=%d refused=%d",
                        self.limits.max_connections,
                        self.refused,
                    )
                return _Refuse()
            handler = server()
            self._waiting[id(handler)] = asyncio.get_running_loop().call_later(
                self.limits.header_timeout, self._expire, handler
            )
            return handler

        return accept

    def _expire(self, handler: RequestHandler) -> None:
        self._waiting.pop(id(handler), None)
        if handler.transport is None:  # already gone
            return
        self.timed_out += 1
        handler.force_close()
        handler.transport.close()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Note the connection delivered a request; cancel the handler at ``request_timeout``."""
        timer = self._waiting.pop(id(request.protocol), None)
        if timer is not None:
            timer.cancel()
        try:
            return await asyncio.wait_for(handler(request), self.limits.request_timeout)
        except TimeoutError:
            self.over_deadline += 1
            log.warning(
                "http request over its deadline path=%s seconds=%s",
                request.path,
                self.limits.request_timeout,
            )
            if request.transport is not None:
                request.transport.close()
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
