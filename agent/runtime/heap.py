"""Gives the C heap's free pages back to the system after a round (glibc ``malloc_trim``).

A round replaces every site's result and series objects and a render makes megabytes of
short-lived chunks; CPython returns empty 256 KiB arenas itself, but objects and buffers from
``malloc`` leave free pages inside the heap that glibc keeps. At 50,000 sites that slack was tens
of MiB of resident memory (docs/performance.md). ``malloc_trim(0)`` releases them (madvise);
it costs a few milliseconds once per round. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def heap_trimmer() -> Callable[[], None]:
    """A function that trims the C heap, or does nothing where ``malloc_trim`` is missing."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        log.debug("malloc_trim not available, heap not trimmed")
        return _nothing
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def trim_heap() -> None:
        trim(0)

    return trim_heap


def _nothing() -> None:
    return None
