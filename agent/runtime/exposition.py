"""Prometheus text exposition (format 0.0.4) for families with a series per site, streamed.

An agent with 10,000 sites exports about 270,000 samples. ``prometheus_client`` builds a
``Sample`` tuple per sample at scrape time and formats each with sorted, escaped labels: measured
here at 1.5-2.5 s of event-loop time per scrape (docs/performance.md, soak), during which no
round starts. This module is the fast path for those per-site families only; everything else
(small families, probers' own ``collect()``) stays with ``prometheus_client``.

A :class:`TextFamily` carries its sample lines as a lazy iterable over a snapshot the caller took
when it built the family (dicts that rounds replace whole, or copies), so a scrape never sees half
a round. :func:`stream` writes the lines in slices and yields to the event loop between slices,
so one scrape delays a round by one slice (~1 ms), not by the whole body.

Hand-written, and kept small: ``prometheus_client`` has no API to format a sample line without
building its objects first. The output is checked by ``promtool check metrics`` and parsed back
with ``prometheus_client``'s own parser in the tests.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["TextCollector", "TextFamily", "label_value", "number", "render", "stream"]

#: Lines per slice of :func:`stream`: ~1 ms of formatting and one write each.
SLICE_LINES = 2000


class TextFamily(NamedTuple):
    """One metric family: its full name (``_total`` included for counters), type, help text and
    its sample lines, each ``name{labels} value\\n`` (built by the family's owner)."""

    name: str
    type: str  # "counter", "gauge" or "histogram"
    help: str
    lines: Iterable[str]

    def header(self) -> str:
        text = self.help.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.name} {text}\n# TYPE {self.name} {self.type}\n"


def label_value(value: str) -> str:
    """A label value escaped for the text format: backslash, double quote and line feed."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


def number(value: float) -> str:
    """A sample value as the text format wants it (``+Inf``, ``-Inf``, ``NaN``), written the way
    ``prometheus_client`` writes it (``3.0`` for 3), so both parts of a scrape read alike."""
    if isinstance(value, int) and -(2**53) < value < 2**53:
        return f"{value}.0"
    if math.isfinite(value):
        return repr(value)
    if value != value:
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def render(families: Iterable[TextFamily]) -> str:
    """The whole exposition at once (tests, small agents)."""
    parts: list[str] = []
    for family in families:
        parts.append(family.header())
        parts.extend(family.lines)
    return "".join(parts)


async def stream(
    families: Iterable[TextFamily],
    write: Callable[[bytes], Awaitable[object]],
    *,
    slice_lines: int = SLICE_LINES,
) -> int:
    """Write ``families`` through ``write`` in slices of ``slice_lines`` lines, yielding to the
    event loop between slices; returns the bytes written."""
    buffer: list[str] = []
    written = 0
    for family in families:
        buffer.append(family.header())
        for line in family.lines:
            buffer.append(line)
            if len(buffer) >= slice_lines:
                chunk = "".join(buffer).encode()
                buffer.clear()
                written += len(chunk)
                await write(chunk)
                await asyncio.sleep(0)
    if buffer:
        chunk = "".join(buffer).encode()
        written += len(chunk)
        await write(chunk)
    return written


class TextCollector:
    """A ``prometheus_client`` collector over text families, read back with its own parser.

    For tests and for embedding the families in a ``CollectorRegistry`` (``get_sample_value``);
    not the scrape path, which streams the text as it is.
    """

    def __init__(self, families: Callable[[], Iterable[TextFamily]]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return text_string_to_metric_families(render(self._families()))
