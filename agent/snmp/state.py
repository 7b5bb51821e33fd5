"""What successive SNMP polls of one device mean: reboots, reset-proof counters, interfaces down.

Pure functions over :class:`~pantau.agent.snmp.walk.Snapshot`; the prober keeps one
:class:`DeviceState` per site and calls :func:`advance` after every successful poll.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from pantau.agent.snmp.walk import Interface, Snapshot

#: Interface counters exported as monotonically increasing totals.
COUNTER_FIELDS: tuple[str, ...] = (
    "in_octets",
    "out_octets",
    "in_errors",
    "out_errors",
    "in_discards",
    "out_discards",
)
OPER_UP = 1


def accumulate(total: int | None, last: int | None, raw: int, wrap_limit: int | None = None) -> int:
    """The new exported total after reading ``raw`` from a device counter.

    The first reading starts the total at the device's own value. A reading lower than the
    previous one is a reset (reboot, counters cleared): the device counted ``raw`` since then, so
    that is what is added, never ``raw - last`` (a huge negative or wrapped spike). Only a 32-bit
    counter whose wrapped increase ``raw - last + 2**32`` is at most ``wrap_limit`` (what the
    interface could carry meanwhile) is taken as having wrapped.
    """
    if total is None or last is None:
        return raw
    if raw >= last:
        return total + raw - last
    wrapped = raw - last + 2**32
    if wrap_limit is not None and 0 <= wrapped <= wrap_limit:
        return total + wrapped
    return total + raw


@dataclasses.dataclass(slots=True)
class DeviceState:
    """Per-site memory across polls. Mutated only by :func:`advance`."""

    uptime_ticks: int | None = None
    reboots: int = 0
    last_raw: dict[tuple[int, str], int] = dataclasses.field(default_factory=dict)
    totals: dict[tuple[int, str], int] = dataclasses.field(default_factory=dict)
    snapshot: Snapshot | None = None


def advance(state: DeviceState, snap: Snapshot) -> bool:
    """Fold one successful poll into ``state``; return whether the device rebooted since.

    sysUpTime going backwards is a reboot (it also wraps after 497 days, which is counted too:
    the agent restarted its clock either way).
    """
    rebooted = state.uptime_ticks is not None and snap.uptime_ticks < state.uptime_ticks
    if rebooted:
        state.reboots += 1
    elapsed = 0.0 if state.uptime_ticks is None else (snap.uptime_ticks - state.uptime_ticks) / 100
    state.uptime_ticks = snap.uptime_ticks
    # New dicts each poll, never edited in place: a scrape that took the old ones keeps a
    # consistent view while it is written (see pantau.agent.runtime.exposition). Interfaces that
    # are gone lose their series because only the keys seen in this poll are carried over.
    totals: dict[tuple[int, str], int] = {}
    last_raw: dict[tuple[int, str], int] = {}
    for iface in snap.interfaces.values():
        # 32-bit octet counters wrap every few minutes at 100 Mbit/s: a decrease is a wrap when
        # the wrapped increase fits the interface's speed over the device's own elapsed time
        limit = None
        if iface.octet_bits == 32 and not rebooted and (bps := speed_bps(iface)):
            limit = int(bps / 8 * elapsed * 1.05) + 1
        for field in COUNTER_FIELDS:
            raw = getattr(iface, field)
            if raw is None:
                continue
            key = (iface.index, field)
            wrap_limit = limit if field in ("in_octets", "out_octets") else None
            totals[key] = accumulate(
                state.totals.get(key), state.last_raw.get(key), raw, wrap_limit
            )
            last_raw[key] = raw
    state.totals, state.last_raw = totals, last_raw
    state.snapshot = snap
    return rebooted


#: ifHighSpeed above this (10 Tbit/s, in Mbit/s) is not a speed: a radio reporting bit/s
MAX_HIGH_SPEED_MBPS = 10_000_000
_IF_SPEED_SATURATED = 2**32 - 1  # ifSpeed of an interface faster than 4.29 Gbit/s


def speed_bps(iface: Interface) -> float | None:
    """The interface's speed in bit/s, or None when the device does not say.

    ifSpeed when it holds a speed (more precise than ifHighSpeed's whole Mbit/s, and right on
    devices that answer ifHighSpeed 0, as an Aerohive AP's 1 Gbit/s port does); ifHighSpeed when
    ifSpeed is saturated at 2**32-1 or missing, if plausible (at most 10 Tbit/s). A speed of 0
    means the device does not know (virtual interfaces): no value, on every path.
    """
    if iface.speed is not None and 0 < iface.speed < _IF_SPEED_SATURATED:
        return float(iface.speed)
    if iface.high_speed is not None and 0 < iface.high_speed <= MAX_HIGH_SPEED_MBPS:
        return iface.high_speed * 1e6
    return None


def _matches(iface: Interface, wanted: str) -> bool:
    return wanted in (iface.name, iface.descr, str(iface.index))


def interfaces_down(wanted: Iterable[str], snap: Snapshot) -> list[str]:
    """Which of the watched interfaces (by ifName, ifDescr or ifIndex) are not operationally up.

    An interface the device does not list counts as down: the uplink the site depends on is
    not there.
    """
    down = []
    for name in wanted:
        hits = [i for i in snap.interfaces.values() if _matches(i, name)]
        if not hits or all(i.oper != OPER_UP for i in hits):
            down.append(name)
    return down
