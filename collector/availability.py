"""Availability of sites and districts over a period, maintenance windows excluded. Pure.

A site is available while ``up``; ``down`` and ``unreachable`` both count against it (its users
cannot reach it either way). Time in a maintenance window and time in ``unknown`` count neither
way: the ratio is up time over up plus down time outside maintenance, None when that is zero.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pantau.collector.outages import DOWN, UP, Decision, SiteRef, Timeline


@dataclasses.dataclass(frozen=True, slots=True)
class Maintenance:
    """A planned window: for one site, one district, or everything when both are None."""

    start: float
    end: float
    site: str | None = None
    district: str | None = None
    reason: str = ""
    id: int | None = None

    def covers(self, site: SiteRef) -> bool:
        """Whether this window applies to ``site``."""
        if self.site is None and self.district is None:
            return True
        return self.site == site.id or (
            self.district is not None and self.district == site.district
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Availability:
    """Seconds up and down (outside maintenance) and their ratio; None when nothing was seen."""

    up_seconds: float = 0.0
    down_seconds: float = 0.0

    @property
    def ratio(self) -> float | None:
        total = self.up_seconds + self.down_seconds
        return self.up_seconds / total if total > 0 else None

    def __add__(self, other: Availability) -> Availability:
        return Availability(
            self.up_seconds + other.up_seconds, self.down_seconds + other.down_seconds
        )


def _merge(windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(w for w in windows if w[1] > w[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _outside(start: float, end: float, windows: Sequence[tuple[float, float]]) -> float:
    """Seconds of ``[start, end)`` outside the (merged) windows."""
    covered = sum(max(0.0, min(end, we) - max(start, ws)) for ws, we in windows)
    return max(0.0, end - start - covered)


def timeline_availability(
    timeline: Timeline, start: float, end: float, maintenance: Iterable[tuple[float, float]] = ()
) -> Availability:
    """Up and down seconds of one decided timeline within ``[start, end)``.

    Parameters
    ----------
    timeline
        ``(time, state)`` changes; before the first the state is unknown.
    start, end
        The period, Unix seconds.
    maintenance
        ``(start, end)`` windows excluded from the count.
    """
    windows = _merge(maintenance)
    up = down = 0.0
    for i, (t, state) in enumerate(timeline):
        seg_end = timeline[i + 1][0] if i + 1 < len(timeline) else end
        lo, hi = max(t, start), min(seg_end, end)
        if hi <= lo or state not in (UP, DOWN):
            continue
        seconds = _outside(lo, hi, windows)
        if state == UP:
            up += seconds
        else:
            down += seconds
    return Availability(up, down)


def availability(
    decision: Decision,
    sites: Iterable[SiteRef],
    start: float,
    end: float,
    maintenance: Iterable[Maintenance] = (),
) -> tuple[dict[str, Availability], dict[str, Availability]]:
    """Availability per site and per district (time-weighted over its sites) in ``[start, end)``.

    Returns
    -------
    tuple of dict
        ``(per_site, per_district)``; sites without a district appear only per site.
    """
    windows = list(maintenance)
    per_site: dict[str, Availability] = {}
    per_district: dict[str, Availability] = defaultdict(Availability)
    for site in sites:
        mine = [(w.start, w.end) for w in windows if w.covers(site)]
        avail = timeline_availability(decision.timelines.get(site.id, ()), start, end, mine)
        per_site[site.id] = avail
        if site.district:
            per_district[site.district] += avail
    return per_site, dict(per_district)
