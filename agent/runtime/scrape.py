"""One ``/metrics`` render shared by every scrape that arrives while it is made, kept gzipped.

With 10,000 sites a body is ~19 MB of text; 20 scrapers each rendering their own copy stretched
ICMP rounds from 3.5 s to 17.8 s (issue 12). Here a scrape that finds a render in progress
waits for it and gets the same bytes, so N concurrent scrapers cost one render, not N. And the
per-site part, nearly all of the body, changes only when a round finishes: it is rendered once
per change of its key and reused by every scrape until then; each scrape only adds the agent's
own small families (compressed onto a copy of the saved compressor, so the body stays one gzip
stream).

The render is gzip-compressed while it is made (``zlib`` level 1, a slice at a time between
yields to the event loop), so the agent holds the compressed body only (~15x smaller). A
scraper that sends ``Accept-Encoding: gzip`` (Prometheus always does) gets it as it is; any other
gets it decompressed a slice at a time while it is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import zlib
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any

from pantau.agent.runtime import exposition
from pantau.agent.runtime.exposition import TextFamily

log = logging.getLogger(__name__)

#: zlib level: 1 compresses the text format ~10-15x at a few ms per MB; higher levels cost more
#: CPU on the agent for little.
GZIP_LEVEL = 1
#: Compressed bytes decompressed per write for a scraper without gzip.
INFLATE_SLICE = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class _Body:
    """The per-site part of a render: its key, the gzip bytes so far (as the compressor gave
    them: joined only into a scrape's whole body, never into a second copy of its own) and the
    compressor state after them (unflushed, so each scrape can continue the same gzip stream
    with its head)."""

    key: Hashable
    parts: tuple[bytes, ...]
    deflate: Any  # zlib.Compress (no public name before Python 3.12)


class SharedRender:
    """Renders ``families()`` then ``head()`` as one gzip body, sharing a render in progress
    and reusing the per-site part while ``key()`` is unchanged.

    Parameters
    ----------
    head
        The ``prometheus_client`` part (the agent's own families: a few hundred lines that
        change all the time), compressed anew for every scrape.
    families
        The per-site families (streamed text), which change only when a round finishes or the
        inventory is reloaded.
    key
        Identifies what ``families()`` would return now (e.g. rounds finished per kind, the
        inventory generation, the stale kinds); the per-site part is rendered again only when
        it changes. The default, a new object each call, renders every scrape.
    reuse_for
        Seconds a whole body (head included) is served again as it is: scrapers polling back
        to back then cost the agent an HTTP write each, not a render (0: never).
    """

    def __init__(
        self,
        head: Callable[[], bytes],
        families: Callable[[], Iterable[TextFamily]],
        key: Callable[[], Hashable] = object,
        reuse_for: float = 0.0,
    ) -> None:
        self._head = head
        self._families = families
        self._key = key
        self._body: _Body | None = None
        self._inflight: asyncio.Task[_Body] | None = None
        self._reuse_for = reuse_for
        # (loop time, whole body) of the last scrape
        self._last: tuple[float, tuple[bytes, ...]] | None = None
        self.renders = 0  # per-site renders made (tests, the benchmark)
        self.shared = 0  # scrapes that got a render another scrape started or made

    async def gzipped(self) -> tuple[bytes, ...]:
        """The gzip body, in parts to be sent one after the other: the per-site part of this key
        (rendered now if it must be), then the head, compressed now. Never joined into one
        ``bytes``: every scrape would hold its own copy of the whole body (5 MB at 50,000
        sites, issue 18); the parts are shared by every scrape of the same render."""
        now = asyncio.get_running_loop().time()
        if self._last is not None and now - self._last[0] < self._reuse_for:
            self.shared += 1
            return self._last[1]
        task = self._inflight
        body = self._body
        if task is not None and not task.done():  # join the render in progress
            self.shared += 1
        elif body is not None and body.key == self._key():  # nothing changed since
            self.shared += 1
            task = None
        else:
            # The old body and the last whole one are no longer served (the reuse window is
            # over, the key changed): let them go before the new one is made (issue 18: two
            # 5 MB bodies at once at 50,000 sites).
            self._body = self._last = None
            task = self._inflight = asyncio.get_running_loop().create_task(
                self._render(self._key()), name="metrics render"
            )
            self.renders += 1
        if task is not None:
            # shield: a scraper that goes away must not cancel the render others wait for.
            body = self._body = await asyncio.shield(task)
        assert body is not None
        deflate = body.deflate.copy()
        whole = (*body.parts, deflate.compress(self._head()) + deflate.flush())
        if self._reuse_for:
            self._last = (asyncio.get_running_loop().time(), whole)
        return whole

    async def _render(self, key: Hashable) -> _Body:
        # A snapshot taken now, before the first await (see exposition.stream).
        families = self._families()
        deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: gzip framing
        parts: list[bytes] = []

        async def write(chunk: bytes) -> None:
            out = deflate.compress(chunk)
            if out:  # zlib keeps small inputs back until it has a block
                parts.append(out)

        await exposition.stream(families, write)
        return _Body(key, tuple(parts), deflate)


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


async def write_inflated(gz: Iterable[bytes], write: Callable[[bytes], Awaitable[object]]) -> None:
    """Write the decompressed gzip stream ``gz`` (its parts in order) through ``write``, a
    slice at a time."""
    inflate = zlib.decompressobj(31)
    for part in gz:
        view = memoryview(part)
        for start in range(0, len(part), INFLATE_SLICE):
            chunk = inflate.decompress(view[start : start + INFLATE_SLICE])
            if chunk:
                await write(chunk)
    rest = inflate.flush()
    if rest:
        await write(rest)
