"""Runs one round per probe kind every ``interval`` seconds, on the monotonic clock.

Rounds are timed with the event loop's clock (``loop.time()``, monotonic), never the wall clock:
a wall-clock step (NTP correcting a wrong clock, an operator setting the date) neither stalls
rounds nor runs them in a burst. APScheduler 3, used before, compares its wall-clock due times
with ``datetime.now()`` and offers no clock to inject; after a step back of one hour it waited
an hour (issue 12), so this small loop replaces it.

Per kind, one driver task: at each due time (plus a random start delay of up to
``jitter x interval``) it starts a round unless the previous round of that kind still runs;
then the round is skipped, never stacked, and counted as an overrun. Due times whose whole
interval went by without a start (the loop was blocked) are counted as overruns too. Scheduling
lag is the time from a round's due time (jitter included) to its start.

A kind is *stale* when none of its rounds finished for ``STALE_ROUNDS`` intervals plus its
timeout: :meth:`RoundScheduler.stale` names them, so metrics stop showing old results as
current and ``/healthz`` reports it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pantau.agent.runtime.metrics import AgentStats

log = logging.getLogger(__name__)

#: Intervals without a finished round after which a kind's results are stale.
STALE_ROUNDS = 3


class RoundScheduler:
    """Runs ``run_round(kind)`` every ``interval`` seconds per kind, with jitter.

    Parameters
    ----------
    run_round
        The coroutine function of one round of one probe kind.
    stats
        Where rounds, overruns, round durations, scheduling lag and the (monotonic) end time of
        each kind's last round are kept.
    rng
        Source of the jitter (injected so a test can fix it).
    """

    def __init__(
        self,
        run_round: Callable[[str], Awaitable[None]],
        stats: AgentStats,
        rng: random.Random | None = None,
    ) -> None:
        self._run_round = run_round
        self._stats = stats
        self._rng = rng or random.Random()
        self._settings: dict[str, Any] = {}
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._current: dict[str, asyncio.Task[None]] = {}  # the running round of each kind
        self._since: dict[str, float] = {}  # when each kind was (re)scheduled, loop time
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    def start(self) -> None:
        """Start scheduling (needs the running event loop)."""
        self._loop = asyncio.get_running_loop()
        for kind, settings in self._settings.items():
            self._spawn(kind, settings)

    def apply(self, kinds: Mapping[str, Any]) -> None:
        """Make the drivers match ``kinds`` (probe kind -> its settings): add, replace, remove.

        A kind whose settings did not change keeps its driver and its timing. New and changed
        kinds run their first round right away (a round still running from the old settings
        finishes first; the new driver counts it as an overrun).
        """
        for kind in list(self._settings):
            if kind not in kinds:
                self._cancel_driver(kind)
                del self._settings[kind]
                self._stats.round_end.pop(kind, None)
                log.info("round job removed kind=%s", kind)
        for kind, settings in kinds.items():
            if self._settings.get(kind) == settings:
                continue
            self._cancel_driver(kind)
            self._settings[kind] = settings
            if self._loop is not None:
                self._spawn(kind, settings)
            log.info(
                "round job scheduled kind=%s interval=%s jitter=%s",
                kind,
                settings.interval,
                settings.jitter,
            )

    def stale(self) -> dict[str, float]:
        """Kinds with no finished round for ``STALE_ROUNDS`` intervals (+ timeout): kind -> age.

        The age is seconds since the kind's last round finished, or since it was scheduled when
        none has finished yet.
        """
        if self._loop is None:
            return {}
        now = self._loop.time()
        out = {}
        for kind, settings in self._settings.items():
            last = self._stats.round_end.get(kind, self._since.get(kind, now))
            limit = STALE_ROUNDS * settings.interval + getattr(settings, "timeout", 0.0)
            if now - last > limit:
                out[kind] = now - last
        return out

    def intervals(self) -> dict[str, float]:
        """Each scheduled kind's interval in seconds."""
        return {kind: float(s.interval) for kind, s in self._settings.items()}

    def _spawn(self, kind: str, settings: Any) -> None:
        assert self._loop is not None
        self._since[kind] = self._loop.time()
        self._drivers[kind] = self._loop.create_task(
            self._drive(kind, settings), name=f"{kind} rounds"
        )

    def _cancel_driver(self, kind: str) -> None:
        driver = self._drivers.pop(kind, None)
        if driver is not None:
            driver.cancel()

    async def _drive(self, kind: str, settings: Any) -> None:
        assert self._loop is not None
        loop, interval = self._loop, float(settings.interval)
        due = loop.time()
        while True:
            start_at = due + self._rng.uniform(0.0, settings.jitter * interval)
            await asyncio.sleep(max(0.0, start_at - loop.time()))
            now = loop.time()
            running = self._current.get(kind)
            if running is not None and not running.done():
                self._overrun(kind, "previous round still running", 1)
            else:
                self._stats.lag.labels(kind).observe(max(0.0, now - start_at))
                self._current[kind] = loop.create_task(self._round(kind), name=f"{kind} round")
            due += interval
            if due <= now:  # whole intervals went by without a start (the loop was blocked)
                missed = int((now - due) // interval) + 1
                self._overrun(kind, "missed", missed)
                due += missed * interval

    async def _round(self, kind: str) -> None:
        assert self._loop is not None
        start = self._loop.time()
        try:
            await self._run_round(kind)
        finally:
            end = self._loop.time()
            self._stats.rounds[kind] += 1
            self._stats.round_duration[kind] = end - start
            self._stats.round_end[kind] = end

    def _overrun(self, kind: str, why: str, count: int) -> None:
        self._stats.overruns[kind] += count
        log.warning("round skipped kind=%s why=%s count=%d", kind, why, count)

    async def stop(self, grace: float) -> None:
        """Start no new round; let running ones finish for ``grace`` seconds, then cancel them."""
        if self._stopped:
            return
        self._stopped = True
        for kind in list(self._drivers):
            self._cancel_driver(kind)
        running = {t for t in self._current.values() if not t.done()}
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                log.warning("round cancelled at stop name=%s", task.get_name())
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
