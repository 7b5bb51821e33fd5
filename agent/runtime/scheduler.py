"""Maps ``[agent.<kind>]`` settings to APScheduler 3 jobs: one interval job per probe kind.

Each job runs one round of its kind. ``max_instances=1`` and ``coalesce=True``: a round that
comes due while the previous one of the same kind still runs is skipped by APScheduler
(``EVENT_JOB_MAX_INSTANCES``), never stacked, and counted here as an overrun; a round so late
that its whole interval went by (``EVENT_JOB_MISSED``, ``misfire_grace_time`` = interval) is
counted the same way. Scheduling lag is the time from a round's due time (jitter included) to
its submission, from ``EVENT_JOB_SUBMITTED``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from pantau.agent.runtime.metrics import AgentStats

log = logging.getLogger(__name__)


class RoundScheduler:
    """Runs ``run_round(kind)`` every ``interval`` seconds per kind, with jitter.

    Parameters
    ----------
    run_round
        The coroutine function of one round of one probe kind.
    stats
        Where rounds, overruns, round durations and scheduling lag are counted.
    """

    def __init__(self, run_round: Callable[[str], Awaitable[None]], stats: AgentStats) -> None:
        self._run_round = run_round
        self._stats = stats
        self._settings: dict[str, Any] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._overrun, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self._scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)

    def start(self) -> None:
        """Start scheduling (needs the running event loop)."""
        self._scheduler.start()

    def apply(self, kinds: Mapping[str, Any]) -> None:
        """Make the jobs match ``kinds`` (probe kind -> its settings): add, replace, remove.

        A kind whose settings did not change keeps its job and its timing. New and changed
        kinds run their first round right away.
        """
        for kind in list(self._settings):
            if kind not in kinds:
                self._scheduler.remove_job(kind)
                del self._settings[kind]
                log.info("round job removed kind=%s", kind)
        for kind, settings in kinds.items():
            if self._settings.get(kind) == settings:
                continue
            self._scheduler.add_job(
                self._round,
                IntervalTrigger(
                    seconds=settings.interval, jitter=settings.jitter * settings.interval
                ),
                args=[kind],
                id=kind,
                name=f"{kind} round",
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(settings.interval)),
                next_run_time=datetime.now(UTC),
            )
            self._settings[kind] = settings
            log.info(
                "round job scheduled kind=%s interval=%s jitter=%s",
                kind,
                settings.interval,
                settings.jitter,
            )

    async def _round(self, kind: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        start = time.perf_counter()
        try:
            await self._run_round(kind)
        finally:
            self._running.discard(task)
            self._stats.rounds[kind] += 1
            self._stats.round_duration[kind] = time.perf_counter() - start

    def _overrun(self, event: JobSubmissionEvent | JobExecutionEvent) -> None:
        self._stats.overruns[event.job_id] += 1
        why = "missed" if event.code == EVENT_JOB_MISSED else "previous round still running"
        log.warning("round skipped kind=%s why=%s", event.job_id, why)

    def _submitted(self, event: JobSubmissionEvent) -> None:
        due = event.scheduled_run_times[-1]
        lag = (datetime.now(UTC) - due).total_seconds()
        self._stats.lag.labels(event.job_id).observe(max(0.0, lag))

    async def stop(self, grace: float) -> None:
        """Start no new round; let running ones finish for ``grace`` seconds, then cancel them."""
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        running = set(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                log.warning("round cancelled at stop name=%s", task.get_name())
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        self._scheduler.shutdown(wait=False)
