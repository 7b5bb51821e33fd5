"""Progress reporting for long geo computations: a callback type, a silent default, a tqdm one."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

#: ``progress(stage, done, total)``; ``total`` is -1 when unknown.
Progress = Callable[[str, int, int], None]


def null_progress(stage: str, done: int, total: int) -> None:
    """Report nothing (the default of every pure function)."""


class TqdmProgress:
    """Progress bars on stderr, one per stage, for the command line (tqdm)."""

    def __init__(self, min_total: int = 1000) -> None:
        self._bars: dict[str, Any] = {}
        self._min_total = min_total

    def __call__(self, stage: str, done: int, total: int) -> None:
        if total < self._min_total:
            return
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
