"""The bookkeeping of one sweep: per-target state in columns, pacing, and the statistics.

Used by :mod:`pantau.agent.icmp.pinger`; kept apart so the engine reads as sockets and loops only.
Nothing here knows an event loop: the asyncio sweep and the blocking one share it.

A sweep's state is columnar (:class:`Run`): target ``i`` is a row, its echo ``k`` the slot
``i * count + k`` of two flat arrays, so 10,000 targets x 3 echoes cost ~0.5 MB instead of an
object, a list and a dict entry per target and per echo in flight (~4 MB, measured with
tracemalloc). :class:`TargetStats` are made per target only when asked for.

No ``typing`` at run time (``NamedTuple``, ``Literal``): importing it is ~5 ms and ~0.4 MiB of a
one-shot ``pantau probe icmp``; the type checker still sees the typed classes.
"""

from __future__ import annotations

import math
from array import array
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from time import monotonic

from pantau.agent.icmp import wire

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy takes it as True
if TYPE_CHECKING:
    from typing import NamedTuple

    class _TargetStats(NamedTuple):
        address: str
        sent: int
        rtts: tuple[float, ...]
        errors: Mapping[str, int]
        reason: str

else:
    _TargetStats = namedtuple("TargetStats", ("address", "sent", "rtts", "errors", "reason"))


class TargetStats(_TargetStats):
    """One target's round: what was sent, what came back, and why it failed if it did.

    ``rtts`` are seconds, in the order the echoes were sent; ``errors`` counts ICMP errors and
    local send errors by reason. ``reason`` is ``ok`` (at least one reply), else ``unreachable``,
    ``ttl_exceeded``, ``timeout``, or ``error`` (no socket for the address family).
    """

    __slots__ = ()

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


#: States of an echo slot in :attr:`Run.state`.
UNSENT, PENDING, ANSWERED, OVER = 0, 1, 2, 3  # OVER: failed, or answered after its timeout


class Run:
    """One sweep's targets, sequence numbers and per-echo state, while it runs and after.

    Parameters
    ----------
    addresses
        IP literals as given (duplicates, also in another spelling, are swept once).
    sweep, seq0, count
        What the sweep waits for; its first sequence number; echoes per target.

    Raises
    ------
    ValueError
        An address is not an IP literal.
    """

    __slots__ = (
        "addresses", "alias", "at", "count", "errors", "groups", "index", "keys", "last",
        "sent", "seq0", "state", "sweep", "unkeyed",
    )  # fmt: skip

    def __init__(self, addresses: Iterable[str], sweep: Sweep, seq0: int, count: int) -> None:
        self.sweep, self.seq0, self.count = sweep, seq0, count
        self.addresses: list[str] = []  # row -> canonical text (what recvfrom gives)
        self.index: dict[str, int] = {}  # canonical text -> row
        self.alias: dict[str, int] = {}  # an address given in another spelling -> row
        self.keys: list[str] = []  # the addresses as given, each once, in order
        rows: dict[int, array[int]] = {}  # family -> its rows, in order
        self.unkeyed: set[int] = set()  # rows whose canonical text was not given itself
        unkeyed = self.unkeyed
        for given in addresses:
            row = self.index.get(given)
            if row is not None:  # given in its canonical text: a key unless it was already
                if row in unkeyed:
                    unkeyed.discard(row)
                    self.keys.append(given)
                continue
            if given in self.alias:
                continue
            text, family = wire.canonical(given)
            if text == given:
                text = given  # one string object for both (inet_ntop made a new one)
            row = self.index.get(text)
            if row is None:
                row = self.index[text] = len(self.addresses)
                self.addresses.append(text)
                group = rows.get(family)
                if group is None:
                    group = rows[family] = array("I")
                group.append(row)
                if text != given:
                    unkeyed.add(row)
            if text != given:
                self.alias[given] = row
            self.keys.append(given)
        n = len(self.addresses)
        #: family -> the rows to send to; ``range`` when one family has them all.
        self.groups: dict[int, range | array[int]] = {
            family: range(n) if len(group) == n else group for family, group in rows.items()
        }
        self.sent = array("H", [0]) * n  # echoes sent per row
        self.at = array("d", [0.0]) * (n * count)  # per echo: send time, then its RTT
        self.state = bytearray(n * count)  # per echo: UNSENT, PENDING, ANSWERED, OVER
        self.last: array[float] | None = None  # per row: last send time, when paced by period
        self.errors: dict[int, dict[str, int]] = {}  # row -> reason -> count; most have none

    def fail(self, row: int, reason: str) -> None:
        errors = self.errors.setdefault(row, {})
        errors[reason] = errors.get(reason, 0) + 1

    def answer(self, address: str, seq: int, reason: str, now: float) -> bool:
        """Settle the echo ``seq`` to ``address`` if it is this run's and pending: an RTT (``ok``
        within the timeout) or a failure. False if it is not this run's (or not pending)."""
        k = (seq - self.seq0) & 0xFFFF
        if k >= self.count:
            return False
        row = self.index.get(address)
        if row is None:
            return False
        slot = row * self.count + k
        if self.state[slot] != PENDING:  # late (after the sweep), duplicate
            return False
        rtt = now - self.at[slot]
        if reason != wire.OK:
            self.state[slot] = OVER
            self.fail(row, reason)
        elif rtt <= self.sweep.timeout:
            self.state[slot], self.at[slot] = ANSWERED, rtt
        else:
            self.state[slot] = OVER
        self.sweep.settle()
        return True

    def stats(self, row: int, address: str) -> TargetStats:
        """Row ``row``'s :class:`TargetStats`, under the name ``address``."""
        first = row * self.count
        slots = range(first, first + self.count)
        rtts = tuple(self.at[s] for s in slots if self.state[s] == ANSWERED)
        errors = self.errors.get(row)
        if rtts:
            reason = wire.OK
        elif errors:
            reason = max(errors, key=errors.__getitem__)
        else:
            reason = "timeout" if self.sent[row] else "error"
        return TargetStats(address, self.sent[row], rtts, dict(errors) if errors else {}, reason)


class Results(Mapping[str, TargetStats]):
    """A sweep's results: every address as given -> its :class:`TargetStats`, made when read
    (a one-shot sweep formats and drops each in turn instead of holding 10,000 of them)."""

    __slots__ = ("_run",)

    def __init__(self, run: Run) -> None:
        self._run = run

    def __getitem__(self, address: str) -> TargetStats:
        run = self._run
        row = run.alias.get(address)
        if row is None:
            row = run.index[address]
            if row in run.unkeyed:  # swept under another spelling only
                raise KeyError(address)
        return run.stats(row, address)

    def __iter__(self) -> Iterator[str]:
        return iter(self._run.keys)

    def __len__(self) -> int:
        return len(self._run.keys)


class Pacer:
    """fping's ``-i`` (overall rate, a token bucket with 10 ms of burst) and ``-p`` (per target)."""

    def __init__(self, rate: float | None, period: float) -> None:
        self.rate, self.period = rate or math.inf, period
        self.burst = max(1.0, self.rate * 0.01)
        self.tokens, self.refilled = self.burst, monotonic()

    def delay(self, last: float) -> float:
        """Seconds to wait before the next echo to a target last sent to at ``last``
        (monotonic); 0 (and a token taken) when it may go."""
        now = monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        delay = max(last + self.period - now, (1.0 - self.tokens) / self.rate)
        if delay <= 0:
            self.tokens -= 1.0
            return 0.0
        return delay
