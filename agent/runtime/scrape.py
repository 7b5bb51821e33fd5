"""One ``/metrics`` render shared by every scrape that arrives while it is made, kept gzipped.

With 10,000 sites a body is ~19 MB of text; 20 scrapers each rendering their own copy stretched
ICMP rounds from 3.5 s to 17.8 s (issue 12). Here a scrape that finds a render in progress
waits for it and gets the same bytes; only a scrape arriving after it finished starts the next
one, so N concurrent scrapers cost one render, not N.

The render is gzip-compressed while it is made (``zlib`` level 1, a slice at a time between
yields to the event loop), so the agent holds the compressed body only (~15x smaller). A
scraper that sends ``Accept-Encoding: gzip`` (Prometheus always does) gets it as it is; any other
gets it decompressed a slice at a time while it is written.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable

from pantau.agent.runtime import exposition
from pantau.agent.runtime.exposition import TextFamily

log = logging.getLogger(__name__)

#: zlib level: 1 compresses the text format ~10-15x at a few ms per MB; higher levels cost more
#: CPU on the agent for little.
GZIP_LEVEL = 1
#: Compressed bytes decompressed per write for a scraper without gzip.
INFLATE_SLICE = 64 * 1024


class SharedRender:
    """Renders ``head() + families()`` as gzip, sharing a render in progress.

    Parameters
    ----------
    head
        The ``prometheus_client`` part (small families), rendered first.
    families
        The per-site families (streamed text), rendered after ``head``.
    """

    def __init__(
        self, head: Callable[[], bytes], families: Callable[[], Iterable[TextFamily]]
    ) -> None:
        self._head = head
        self._families = families
        self._inflight: asyncio.Task[bytes] | None = None
        self.renders = 0  # how many renders were made (tests, the benchmark)
        self.shared = 0  # how many scrapes got a render another scrape started

    async def gzipped(self) -> bytes:
        """The gzip body: the render in progress if there is one, else a new one."""
        task = self._inflight
        if task is None or task.done():
            task = self._inflight = asyncio.get_running_loop().create_task(
                self._render(), name="metrics render"
            )
            self.renders += 1
        else:
            self.shared += 1
        # shield: a scraper that goes away must not cancel the render others wait for.
        return await asyncio.shield(task)

    async def _render(self) -> bytes:
        # Both parts are snapshots taken now, before the first await (see exposition.stream).
        head = self._head()
        families = self._families()
        deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: gzip framing
        parts = [deflate.compress(head)]

        async def write(chunk: bytes) -> None:
            parts.append(deflate.compress(chunk))

        await exposition.stream(families, write)
        parts.append(deflate.flush())
        return b"".join(parts)


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (``q=0`` refuses it, RFC 9110)."""
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.replace(" ", "").lower()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


async def write_inflated(gz: bytes, write: Callable[[bytes], Awaitable[object]]) -> None:
    """Write the decompressed ``gz`` through ``write``, a slice at a time."""
    inflate = zlib.decompressobj(31)
    for start in range(0, len(gz), INFLATE_SLICE):
        chunk = inflate.decompress(gz[start : start + INFLATE_SLICE])
        if chunk:
            await write(chunk)
    rest = inflate.flush()
    if rest:
        await write(rest)
