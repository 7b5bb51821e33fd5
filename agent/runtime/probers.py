"""The agent's probers, one per probe kind, rebuilt only when their settings change.

A prober is swapped under its kind's lock, which rounds hold while they use it, so a reload
never closes a prober in the middle of a round.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pantau.agent.probes import PROBES, ProbeContext, Prober
from pantau.agent.runtime.metrics import AgentStats
from pantau.errors import CredentialsMissing, PermissionDenied, ProbeSetupError

log = logging.getLogger(__name__)


class ProberSet:
    """Probers by kind, sharing one concurrency limiter.

    Parameters
    ----------
    stats
        ``probe_errors`` counts kinds whose prober could not be built; ``probe_kinds`` says
        which kinds run and why the others do not.
    clock
        Passed to every prober's :class:`ProbeContext`.
    """

    def __init__(self, stats: AgentStats, clock: Callable[[], float]) -> None:
        self._stats = stats
        self._clock = clock
        self._probers: dict[str, Prober] = {}
        self._keys: dict[str, Any] = {}
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._limiter: asyncio.Semaphore | None = None
        self._limit = 0

    def get(self, kind: str) -> Prober | None:
        return self._probers.get(kind)

    def values(self) -> Iterable[Prober]:
        return list(self._probers.values())

    def items(self) -> Iterable[tuple[str, Prober]]:
        return list(self._probers.items())

    async def update(self, config: Any, kinds: Mapping[str, Any]) -> dict[str, Any]:
        """Have a prober for each of ``kinds`` (kind -> settings); return the kinds that have one.

        A kind whose prober cannot be built (no privilege, module missing) is logged, counted
        in ``pantau_agent_probe_errors_total`` and left out; the other kinds still run.
        """
        limit = config.agent.max_concurrency
        if self._limiter is None or self._limit != limit:
            self._limiter, self._limit = asyncio.Semaphore(limit), limit
        for kind in set(self._probers) - set(kinds):
            await self._swap(kind, None, None)
        for kind in set(self._stats.probe_kinds) - set(kinds):
            del self._stats.probe_kinds[kind]
        ready = {}
        for kind, settings in kinds.items():
            key = (settings, limit, config.snmp)
            if self._keys.get(kind) == key or await self._make(config, kind, settings, key):
                ready[kind] = settings
        return ready

    async def _make(self, config: Any, kind: str, settings: Any, key: Any) -> bool:
        assert self._limiter is not None
        context = ProbeContext(config, self._limiter, self._clock)
        try:
            prober = PROBES[kind].make_prober(settings, context)
        except (ProbeSetupError, ImportError) as exc:
            self._stats.probe_errors[kind] += 1
            self._stats.probe_kinds[kind] = _reason(exc)
            log.error("probe kind disabled kind=%s error=%s", kind, exc)
            await self._swap(kind, None, None)
            return False
        self._stats.probe_kinds[kind] = "ok"
        await self._swap(kind, prober, key)
        return True

    async def _swap(self, kind: str, prober: Prober | None, key: Any) -> None:
        async with self.locks[kind]:  # never while a round of this kind uses the old one
            old = self._probers.pop(kind, None)
            self._keys.pop(kind, None)
            if prober is not None:
                self._probers[kind], self._keys[kind] = prober, key
        if old is not None:
            await old.aclose()

    async def aclose(self) -> None:
        """Close every prober."""
        for kind in list(self._probers):
            await self._swap(kind, None, None)


def _reason(exc: BaseException) -> str:
    """The ``reason`` label of a disabled kind (one of ``PROBE_KIND_REASONS``)."""
    if isinstance(exc, CredentialsMissing):
        return "credentials"
    if isinstance(exc, PermissionDenied):
        return "permission"
    if isinstance(exc, ImportError):
        return "module"
    return "setup"
