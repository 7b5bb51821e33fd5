"""Power evidence for an outage's cause (issue 16): was the site's UPS on battery when it died?

Agents record a polled UPS's output source as ``probe`` events with ``old == new`` and reason
``on_battery`` or ``on_mains`` (agent/runtime/power.py: at the first reading, on every change and
every 5 minutes while on battery). Pure functions, no I/O.

Rule: an outage's site was *on battery* when the last such event of that site (any agent, any
of its probes) at or before the outage's start is at most :data:`WINDOW` seconds old and says
``on_battery``, or when the same holds for the site its inventory names as ``ups`` (a UPS polled
at its own address, powering this site): both hang on the site's one mains feed, so either
saying "on battery" means the mains is out. Neither overrides the other: a site's own reading
of mains does not outweigh its UPS site on battery, and the alert text's recording rule takes
the larger of the two in the same way. The window is the 15 minutes of the alert text's
recording rule (``site:pantau_ups_on_battery:last15m``), so the collector's cause and the page
agree; evidence older than that (the agent stopped hearing the device, or stopped) says nothing.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pantau.events import Event

#: Seconds an ``on_battery`` event stays evidence (``[collector]`` has no knob: the alert rule
#: hard-codes the same 15 minutes).
WINDOW = 900.0

#: Per site: ``(time, on battery)`` in time order.
Evidence = Sequence[tuple[float, bool]]


def evidence_by_site(events: Iterable[Event]) -> dict[str, list[tuple[float, bool]]]:
    """The power evidence of each site, in ``(time, agent, cursor)`` order."""
    out: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for e in sorted(
        (e for e in events if e.evidence and e.site), key=lambda e: (e.time, e.agent, e.cursor)
    ):
        out[e.site or ""].append((e.time, e.reason == "on_battery"))
    return dict(out)


def on_battery_at(
    evidence: Evidence, start: float, window: float = WINDOW, ups: Evidence = ()
) -> bool:
    """Whether the site was on battery at ``start`` (the module's rule).

    Parameters
    ----------
    evidence
        The site's own evidence, in time order.
    start
        The outage's start.
    window
        Seconds evidence stays fresh.
    ups
        The evidence of the site named as its ``ups`` (empty without one).
    """
    return _last_says_battery(evidence, start, window) or _last_says_battery(ups, start, window)


def _last_says_battery(evidence: Evidence, start: float, window: float) -> bool:
    """Whether the last evidence at or before ``start`` says on battery and is fresh enough."""
    i = bisect.bisect_right([t for t, _ in evidence], start)
    if i == 0:
        return False
    t, on_battery = evidence[i - 1]
    return on_battery and start - t <= window
