"""The bookkeeping of one sweep: per-target records, pacing, and the statistics they give.

Used by :mod:`pantau.agent.icmp.pinger`; kept apart so the engine reads as sockets and loops only.
Nothing here knows an event loop: the asyncio sweep and the blocking one share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from time import monotonic
from typing import NamedTuple

from pantau.agent.icmp import wire


class TargetStats(NamedTuple):
    """One target's round: what was sent, what came back, and why it failed if it did.

    ``rtts`` are seconds; ``errors`` counts ICMP errors and local send errors by reason.
    ``reason`` is ``ok`` (at least one reply), else ``unreachable``, ``ttl_exceeded``,
    ``timeout``, or ``error`` (no socket for the address family).
    """

    address: str
    sent: int
    rtts: tuple[float, ...]
    errors: Mapping[str, int]
    reason: str

    @property
    def received(self) -> int:
        return len(self.rtts)

    @property
    def loss(self) -> float | None:
        """Fraction of echo requests without a reply; None when nothing was sent."""
        return 1.0 - len(self.rtts) / self.sent if self.sent else None

    def rtt_stats(self) -> dict[str, float] | None:
        """``min``, ``avg``, ``max``, ``stddev`` (population) in seconds; None without replies."""
        rtts = self.rtts
        if not rtts:
            return None
        # Plain floats: statistics.pstdev computes exactly with fractions, 100x slower, and a
        # sweep of 10,000 targets asks for 10,000 of these.
        avg = sum(rtts) / len(rtts)
        var = sum((x - avg) * (x - avg) for x in rtts) / len(rtts)
        return {"min": min(rtts), "avg": avg, "max": max(rtts), "stddev": math.sqrt(var)}


class Sweep:
    """What a sweep waits for: replies outstanding, and the sender still running.

    ``on_done`` is called once, when the sender has finished and nothing is outstanding.
    """

    __slots__ = ("finished", "on_done", "outstanding", "sending", "timeout")

    def __init__(self, timeout: float, on_done: Callable[[], None] | None = None) -> None:
        self.timeout, self.on_done = timeout, on_done
        self.outstanding, self.sending, self.finished = 0, True, False

    def settle(self) -> None:
        self.outstanding -= 1
        self.check()

    def check(self) -> None:
        if not self.outstanding and not self.sending and not self.finished:
            self.finished = True
            if self.on_done is not None:
                self.on_done()


class Record:
    """One target's mutable state during a sweep."""

    __slots__ = ("address", "errors", "family", "last", "rtts", "sent", "sweep")

    def __init__(self, address: str, family: int, sweep: Sweep) -> None:
        self.address, self.family, self.sweep = address, family, sweep
        self.sent, self.last = 0, -math.inf
        self.rtts: list[float] = []
        self.errors: dict[str, int] | None = None  # made on the first error: most have none

    def fail(self, reason: str) -> None:
        if self.errors is None:
            self.errors = {}
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def stats(self, address: str) -> TargetStats:
        if self.rtts:
            reason = wire.OK
        elif self.errors:
            reason = max(self.errors, key=self.errors.__getitem__)
        else:
            reason = "timeout" if self.sent else "error"
        errors = {} if self.errors is None else dict(self.errors)
        return TargetStats(address, self.sent, tuple(self.rtts), errors, reason)


class Pacer:
    """fping's ``-i`` (overall rate, a token bucket with 10 ms of burst) and ``-p`` (per target)."""

    def __init__(self, rate: float | None, period: float) -> None:
        self.rate, self.period = rate or math.inf, period
        self.burst = max(1.0, self.rate * 0.01)
        self.tokens, self.refilled = self.burst, monotonic()

    def delay(self, rec: Record) -> float:
        """Seconds to wait before ``rec``'s next echo; 0 (and a token taken) when it may go."""
        now = monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        delay = max(rec.last + self.period - now, (1.0 - self.tokens) / self.rate)
        if delay <= 0:
            self.tokens -= 1.0
            return 0.0
        return delay
