"""TCP probe: how long a TCP connect to a site's port takes, each connect with its own deadline."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Sequence
from typing import Any

from pantau.agent.probes import ProbeContext, ProbeJob, ProbeResult

log = logging.getLogger(__name__)

#: errno values that mean "no route to that host" rather than a local problem.
UNREACHABLE_ERRNOS = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
)


def reason_of(exc: BaseException) -> str:
    """Map an exception from connecting to one of :data:`pantau.events.REASONS`.

    Shared by the TCP and HTTP probes: both see the same socket errors.
    """
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno in UNREACHABLE_ERRNOS:
        return "unreachable"
    if isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT:
        return "timeout"
    return "error"


class TcpProber:
    """Connects to ``address:port`` of every job; success is a completed handshake.

    Parameters
    ----------
    settings
        ``[agent.tcp]``: ``timeout`` is each connect's deadline, counted from when the
        connect may start (after the shared concurrency limiter let it through).
    context
        The agent's :class:`ProbeContext` (limiter, clock).
    """

    def __init__(self, settings: Any, context: ProbeContext) -> None:
        self._timeout = float(settings.timeout)
        self._context = context

    async def run(self, jobs: Sequence[ProbeJob]) -> dict[tuple[str, str], ProbeResult]:
        """Connect to every job's port at once (bounded by the limiter); one result per job."""
        results = await asyncio.gather(*(self._one(job) for job in jobs))
        return {job.key: result for job, result in zip(jobs, results, strict=True)}

    async def _one(self, job: ProbeJob) -> ProbeResult:
        async with self._context.limiter:
            taken = self._context.clock()
            start = time.perf_counter()
            writer = None
            try:
                async with asyncio.timeout(self._timeout):
                    _, writer = await asyncio.open_connection(job.address, int(job.arg or 0))
            except (OSError, TimeoutError) as exc:
                duration = time.perf_counter() - start
                reason = reason_of(exc)
                log.debug(
                    "tcp probe failed site=%s probe=%s reason=%s", job.site, job.probe, reason
                )
                return ProbeResult(False, reason, duration, taken, message=str(exc) or reason)
            duration = time.perf_counter() - start
            writer.close()
            try:
                async with asyncio.timeout(self._timeout):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                pass  # the connect succeeded; a slow or rude close is not the site's failure
            return ProbeResult(True, "ok", duration, taken, values={"connect_seconds": duration})

    async def aclose(self) -> None:
        """Nothing to release: every connection is closed when its probe ends."""


def make_prober(settings: Any, context: ProbeContext) -> TcpProber:
    """Build the TCP prober (registry entry point)."""
    return TcpProber(settings, context)
