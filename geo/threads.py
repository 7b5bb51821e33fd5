"""Vectorised shapely calls split over the machine's cores, in threads.

Shapely 2's vectorised functions and ``STRtree.query`` release the GIL while GEOS works, so the
halves of one array run on two cores at once in two threads of one process: no copies of the
geometries (a process pool would pickle them), no more memory than one call, and the same result
in the same order as the single call.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: Below this many rows a call is not split (a thread costs more than it saves).
MIN_SPLIT = 256


def workers() -> int:
    """Cores this process may run on (its CPU affinity), at most 8."""
    return max(1, min(8, len(os.sched_getaffinity(0))))


def _bounds(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def _group_bounds(group: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Chunks of about equal size that never split a run of equal ``group`` values."""
    n = len(group)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    want = np.linspace(0, n, parts + 1)[1:-1]
    cuts = np.unique(starts[np.minimum(np.searchsorted(starts, want), len(starts) - 1)])
    edges = [0, *(int(c) for c in cuts if 0 < c < n), n]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def in_chunks(func: Callable[[int, int], T], n: int) -> list[T]:
    """``func(start, stop)`` over consecutive row ranges of ``0..n`` in parallel threads, the
    results in row order (one range, in this thread, when ``n`` is small)."""
    parts = workers() if n >= MIN_SPLIT else 1
    bounds = _bounds(n, parts)
    if len(bounds) <= 1:
        return [func(a, b) for a, b in bounds]
    with ThreadPoolExecutor(parts) as pool:
        return list(pool.map(lambda ab: func(*ab), bounds))


def split_map(
    func: Callable[..., np.ndarray],
    *arrays: np.ndarray,
    group: np.ndarray | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """``func(*arrays, **kwargs)`` computed on row chunks in parallel threads, concatenated.

    ``func`` must work row by row (each output row depends on the same input rows only), as the
    element-wise shapely functions and ``union_all(..., axis=1)`` do. With ``group`` (sorted, one
    value per row), rows of one group stay in one chunk: a prepared geometry repeated over rows
    is then only ever used by one thread (GEOS builds parts of a prepared geometry lazily, on
    first use, which is not safe from two threads at once).
    """
    n = len(arrays[0])
    parts = workers() if n >= MIN_SPLIT else 1
    if parts == 1:
        return func(*arrays, **kwargs)
    bounds = _bounds(n, parts) if group is None else _group_bounds(np.asarray(group), parts)
    with ThreadPoolExecutor(parts) as pool:
        done = pool.map(lambda ab: func(*(a[ab[0] : ab[1]] for a in arrays), **kwargs), bounds)
        return np.concatenate(list(done))


def query(tree: Any, geoms: np.ndarray, predicate: str | None = None) -> np.ndarray:
    """``tree.query(geoms, predicate)`` in parallel threads: the same (2, k) index pairs."""
    n = len(geoms)
    parts = workers() if n >= MIN_SPLIT else 1
    if parts == 1:
        return tree.query(geoms, predicate=predicate)

    import shapely

    # A query builds the tree on first use: once here, before two threads could both try.
    tree.query(shapely.Point(0.0, 0.0))

    def one(ab: tuple[int, int]) -> np.ndarray:
        found = tree.query(geoms[ab[0] : ab[1]], predicate=predicate)
        found[0] += ab[0]
        return found

    with ThreadPoolExecutor(parts) as pool:
        return np.concatenate(list(pool.map(one, _bounds(n, parts))), axis=1)
