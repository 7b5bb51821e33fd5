"""Traceroute toward sites that just went down, bounded in number and time per round.

The hop tells the collector where the path breaks (the site's own link, or an uplink shared
with others). When many sites go down at once the cause is upstream, so only the first
``max_traces`` of a round are traced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from pantau.errors import ProbeSetupError

log = logging.getLogger(__name__)


class Tracer:
    """Runs :func:`pantau.agent.icmp.traceroute.last_hop` for several sites at once.

    Parameters
    ----------
    max_traces
        Sites traced at most per call.
    parallel
        Traces running at once.
    timeout
        Seconds one trace may take; a slower one gives no hop.
    """

    def __init__(self, max_traces: int = 32, parallel: int = 8, timeout: float = 10.0) -> None:
        self._max = max_traces
        self._parallel = parallel
        self._timeout = timeout

    async def last_hops(self, addresses: Mapping[str, str]) -> dict[str, str | None]:
        """Site id -> last responding hop (None when nothing answered or tracing failed)."""
        if not addresses:
            return {}
        try:  # imported here: scapy is heavy and only needed once something goes down
            from pantau.agent.icmp.traceroute import last_hop
        except ImportError as exc:
            log.warning("traceroute unavailable error=%s", exc)
            return {}

        chosen = list(addresses.items())[: self._max]
        if len(addresses) > self._max:
            log.info("traceroute limited traced=%d down=%d", self._max, len(addresses))
        limit = asyncio.Semaphore(self._parallel)

        async def one(site: str, address: str) -> tuple[str, str | None]:
            async with limit:
                try:
                    async with asyncio.timeout(self._timeout):
                        return site, await last_hop(address)
                except TimeoutError:
                    log.info("traceroute timed out site=%s address=%s", site, address)
                except ProbeSetupError as exc:
                    log.warning("traceroute unavailable site=%s error=%s", site, exc)
                return site, None

        return dict(await asyncio.gather(*(one(s, a) for s, a in chosen)))
