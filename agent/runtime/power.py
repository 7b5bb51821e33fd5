"""Power evidence: which ``on_battery``/``on_mains`` events a round's SNMP results call for.

A probe whose device reports a UPS (``pantau_ups_on_battery``, UPS-MIB upsOutputSource or APC
upsBasicOutputStatus) hands the reading over as ``ProbeResult.values["on_battery"]`` (1 or 0).
The event log records it as a ``probe`` event with ``old == new`` (the probe's state, unchanged)
and reason ``on_battery`` or ``on_mains``, only:

* at the probe's first reading since the agent started (whatever it says: a restart must not
  leave an older ``on_battery`` standing),
* when the reading changes (battery to mains or back),
* every :data:`REFRESH` seconds while it stays on battery, so that the collector's rule "the
  last evidence within :data:`pantau.collector.power.WINDOW` before an outage says on battery"
  holds for a cut that lasts hours, and evidence from an agent that stopped hearing the device
  ages out. Power cuts are rare: a steady site on mains adds nothing to the log.

Pure: the caller keeps ``last`` (probe key -> (on battery, when recorded)) between rounds.
"""

from __future__ import annotations

from collections.abc import Mapping

from pantau.agent.probes import ProbeResult
from pantau.agent.runtime.state import SiteState, Stamp
from pantau.events import Event

#: Seconds between repeated ``on_battery`` events while a UPS stays on battery.
REFRESH = 300.0

Last = Mapping[tuple[str, str], tuple[bool, float]]


def _known(states: Mapping[str, SiteState], key: tuple[str, str]) -> bool:
    """Whether the probe ``key`` (site, probe) is still one of the agent's."""
    site = states.get(key[0])
    return site is not None and key[1] in site.probes


def power_events(
    last: Last,
    results: Mapping[tuple[str, str], ProbeResult],
    states: Mapping[str, SiteState],
    stamp: Stamp,
) -> tuple[dict[tuple[str, str], tuple[bool, float]], list[Event]]:
    """The evidence events of one round's results and the updated ``last``.

    Results without an ``on_battery`` value (no UPS, or the poll failed) change nothing; keys
    of probes no longer in ``states`` are forgotten.
    """
    out = {k: v for k, v in last.items() if _known(states, k)}
    events: list[Event] = []
    for key, result in results.items():
        value = result.values.get("on_battery")
        if value is None or not _known(states, key):
            continue
        on_battery = value >= 0.5
        before = out.get(key)
        due = (
            before is None
            or before[0] != on_battery
            or (on_battery and stamp.now - before[1] >= REFRESH)
        )
        if not due:
            continue
        out[key] = (on_battery, stamp.now)
        state = states[key[0]].probes[key[1]].state
        events.append(
            Event(
                agent=stamp.agent,
                type="probe",
                site=key[0],
                probe=key[1],
                old=state,
                new=state,
                time=stamp.now,
                reason="on_battery" if on_battery else "on_mains",
                isolated=stamp.isolated,
            )
        )
    return out, events
