"""How availability is computed: the one implementation every pantau figure comes from. Pure.

docs/contracts.md ("How availability is computed") states the rules; in short, for one site over
``[start, min(end, now))``:

* time in a maintenance window covering the site counts neither way (``maintenance_seconds``);
* time whose decided state is ``unknown`` (before the first observation, or when every agent that
  knew the site reported it unknown) is no data (``unknown_seconds``): never up, never down;
* ``up`` counts for the site; ``down`` counts against it, and so does ``unreachable`` (down behind a
  down parent: its users cannot reach it either way), which is also kept apart;
* ``ratio`` is up over up plus down, None when nothing was observed: no data is never a figure.

A district's figure sums its sites' seconds (time-weighted), so a site observed for a day weighs
a day; ``data_ratio`` says how much of the district's site-time outside maintenance had data.
The collector's API and ``/metrics``, ``pantau map`` and ``pantau report`` call :func:`figures`
(or :func:`availability` over a decision, which calls it); the Prometheus recording rules follow the
same rules over the collector's exported decision (``pantau_collector_site_up``,
``pantau_maintenance_active``).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from pantau.collector.votes import DOWN, UNKNOWN, UP, Timeline

if TYPE_CHECKING:
    from pantau.config import CollectorConfig

Windows = Sequence[tuple[float, float]]


@dataclasses.dataclass(frozen=True, slots=True)
class SiteKey:
    """What a maintenance window and a district figure need to know of a site."""

    id: str
    district: str | None = None


class Located(Protocol):
    """Anything with a site id and its district (inventory ``Site``, ``SiteRef``, ``SiteKey``)."""

    @property
    def id(self) -> str: ...

    @property
    def district(self) -> str | None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Maintenance:
    """A planned window: for one site, one district, or everything when both are None."""

    start: float
    end: float
    site: str | None = None
    district: str | None = None
    reason: str = ""
    id: int | None = None

    def covers(self, site: Located) -> bool:
        """Whether this window applies to ``site``."""
        if self.site is None and self.district is None:
            return True
        return self.site == site.id or (
            self.district is not None and self.district == site.district
        )

    def active(self, t: float) -> bool:
        """Whether ``t`` falls inside the window (start included, end excluded)."""
        return self.start <= t < self.end


@dataclasses.dataclass(frozen=True, slots=True)
class Availability:
    """Seconds of one site (or a sum of sites) over a period, by what was known of it.

    ``down_seconds`` includes ``unreachable_seconds``. ``period_seconds`` is the elapsed part of
    the period (never the future); it equals the sum of the other four kinds.
    """

    up_seconds: float = 0.0
    down_seconds: float = 0.0
    unreachable_seconds: float = 0.0
    maintenance_seconds: float = 0.0
    unknown_seconds: float = 0.0
    period_seconds: float = 0.0

    @property
    def observed_seconds(self) -> float:
        """Seconds with a known state outside maintenance."""
        return self.up_seconds + self.down_seconds

    @property
    def ratio(self) -> float | None:
        """Up over observed time; None when nothing was observed (no data is not a figure)."""
        total = self.observed_seconds
        return self.up_seconds / total if total > 0 else None

    @property
    def data_ratio(self) -> float | None:
        """Share of the time outside maintenance that had data; None when none was left."""
        outside = self.period_seconds - self.maintenance_seconds
        return self.observed_seconds / outside if outside > 0 else None

    def __add__(self, other: Availability) -> Availability:
        return Availability(
            self.up_seconds + other.up_seconds,
            self.down_seconds + other.down_seconds,
            self.unreachable_seconds + other.unreachable_seconds,
            self.maintenance_seconds + other.maintenance_seconds,
            self.unknown_seconds + other.unknown_seconds,
            self.period_seconds + other.period_seconds,
        )


def merge_windows(windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Windows sorted, with overlapping or touching ones joined."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(w for w in windows if w[1] > w[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _inside(start: float, end: float, windows: Windows) -> float:
    """Seconds of ``[start, end)`` inside the (merged) windows."""
    if not windows:
        return 0.0
    return sum(max(0.0, min(end, we) - max(start, ws)) for ws, we in windows)


def _segments(timeline: Timeline, start: float, end: float) -> Iterable[tuple[float, float, str]]:
    """``(lo, hi, state)`` pieces of ``[start, end)``, ``unknown`` where the timeline is silent."""
    i = bisect.bisect_right(timeline, (start, "~"))  # the changes at or before start
    state, lo = (timeline[i - 1][1] if i else UNKNOWN), start
    for t, new in timeline[i:]:
        if t >= end:
            break
        if t > lo:
            yield lo, t, state
            lo = t
        state = new
    if end > lo:
        yield lo, end, state


def unknown_spans(timeline: Timeline, start: float, end: float) -> list[tuple[float, float]]:
    """The spans of ``[start, end)`` without data (state ``unknown`` or no timeline yet)."""
    spans: list[tuple[float, float]] = []
    for lo, hi, state in _segments(timeline, start, end):
        if state not in (UP, DOWN):
            if spans and spans[-1][1] == lo:
                spans[-1] = (spans[-1][0], hi)
            else:
                spans.append((lo, hi))
    return spans


def timeline_availability(
    timeline: Timeline,
    start: float,
    end: float,
    maintenance: Iterable[tuple[float, float]] = (),
    parent: Timeline | None = None,
) -> Availability:
    """The seconds of one decided timeline within ``[start, end)``.

    Parameters
    ----------
    timeline
        ``(time, state)`` changes; before the first the state is unknown.
    start, end
        The period, Unix seconds; pass ``end = min(end, now)`` for a period still running.
    maintenance
        ``(start, end)`` windows covering this site, excluded from the count.
    parent
        The parent's timeline: down time while the parent is down is also ``unreachable``.
    """
    windows = merge_windows(maintenance)
    up = down = unreachable = unknown = 0.0
    for lo, hi, state in _segments(timeline, start, end):
        pieces = [(lo, hi, False)]
        if state == DOWN and parent is not None:
            pieces = [(a, b, s == DOWN) for a, b, s in _segments(parent, lo, hi)]
        for a, b, behind in pieces:
            seconds = (b - a) - _inside(a, b, windows)
            if state == UP:
                up += seconds
            elif state == DOWN:
                down += seconds
                unreachable += seconds if behind else 0.0
            else:
                unknown += seconds
    period = max(0.0, end - start)
    inside = _inside(start, end, windows) if end > start else 0.0
    return Availability(up, down, unreachable, inside, unknown, period)


def figures(
    timelines: Mapping[str, Timeline],
    sites: Iterable[SiteKey],
    start: float,
    end: float,
    windows: Mapping[str, Windows],
    parents: Mapping[str, str | None] | None = None,
) -> tuple[dict[str, Availability], dict[str, Availability]]:
    """Availability per site and per district (sum of its sites) in ``[start, end)``.

    Parameters
    ----------
    timelines
        Decided timeline per site id; a site without one has no data at all.
    sites
        The sites to count, with their district.
    start, end
        The period; ``end`` must already be clipped to "now" for a period still running.
    windows
        Per site id, the maintenance windows covering it (see :func:`site_windows`).
    parents
        Per site id, its parent's id, for ``unreachable_seconds``.

    Returns
    -------
    tuple of dict
        ``(per_site, per_district)``; sites without a district appear only per site.
    """
    per_site: dict[str, Availability] = {}
    per_district: dict[str, Availability] = defaultdict(Availability)
    parents = parents or {}
    for site in sites:
        parent = parents.get(site.id)
        avail = timeline_availability(
            timelines.get(site.id, ()),
            start,
            end,
            windows.get(site.id, ()),
            timelines.get(parent, ()) if parent else None,
        )
        per_site[site.id] = avail
        if site.district:
            per_district[site.district] += avail
    return per_site, dict(per_district)


def site_windows(
    maintenance: Iterable[Maintenance], sites: Iterable[Located]
) -> dict[str, list[tuple[float, float]]]:
    """Per site id, the merged ``(start, end)`` of every window that covers it."""
    listed = list(maintenance)
    return {s.id: merge_windows((w.start, w.end) for w in listed if w.covers(s)) for s in sites}


def in_maintenance(maintenance: Iterable[Maintenance], site: Located, t: float) -> bool:
    """Whether a window covering ``site`` is active at ``t``."""
    return any(w.covers(site) and w.active(t) for w in maintenance)


class _Decided(Protocol):
    """The part of :class:`pantau.collector.outages.Decision` used here."""

    @property
    def timelines(self) -> Mapping[str, Timeline]: ...

    @property
    def parents(self) -> Mapping[str, str | None]: ...


def availability(
    decision: _Decided,
    sites: Iterable[Located],
    start: float,
    end: float,
    maintenance: Iterable[Maintenance] = (),
    now: float | None = None,
) -> tuple[dict[str, Availability], dict[str, Availability]]:
    """:func:`figures` over a collector decision, maintenance windows resolved per site.

    ``now`` clips a period still running: the future is never counted.
    """
    refs = [SiteKey(s.id, s.district) for s in sites]
    stop = end if now is None else max(start, min(end, now))
    return figures(
        decision.timelines, refs, start, stop, site_windows(maintenance, refs), decision.parents
    )


def config_maintenance(config: CollectorConfig) -> list[Maintenance]:
    """The ``[[collector.maintenance]]`` windows of a config."""
    return [
        Maintenance(w.start.timestamp(), w.end.timestamp(), w.site, w.district, w.reason)
        for w in config.maintenance
    ]
