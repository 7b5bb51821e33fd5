"""One agent's clock as the collector judges it: the offset measured at every pull, and whether
a page's times can be judged against it (docs/contracts.md)."""

from __future__ import annotations

import logging
from typing import Any

from pantau.collector.agenthealth import AgentHealth
from pantau.collector.pagecheck import Checks

log = logging.getLogger(__name__)


class AgentClock:
    """The clock of the agent ``health`` describes; the offset is kept in ``health.clock_offset``.

    Parameters
    ----------
    health
        The agent's health, whose ``clock_offset`` and ``held["clock_unmeasured"]`` this sets.
    skew
        ``clock_skew`` from ``[collector]``: the offset beyond which the clock is off.
    """

    def __init__(self, health: AgentHealth, skew: float) -> None:
        self.health = health
        self.skew = skew
        self._unjudged = False  # a first pull's events stored unjudged was said

    def measure(self, agent_now: Any, sent: float, received: float) -> None:
        """Take the agent's ``now`` (its page's, else its ``Date``) as read halfway through the
        request sent at ``sent`` and answered at ``received``; anything else is no measure."""
        if isinstance(agent_now, float):
            self.health.clock_offset = agent_now - (sent + received) / 2

    def checks(self, now: float, last_hw: tuple[int, float] | None) -> Checks:
        """The page checks at ``now``, ``last_hw`` the high-water mark the previous pull read
        and when it was sent (None: not read)."""
        offset = self.health.clock_offset
        behind = offset is not None and offset < -self.skew
        return Checks(
            now,
            self.skew,
            last_hw[0] if last_hw else None,
            last_hw[1] if last_hw else 0.0,
            behind,
            clock_right=offset is not None and abs(offset) <= self.skew,
        )

    def judgeable(self, obj: dict[str, Any], first_pull: bool) -> bool:
        """Whether this page's times can be checked against the agent's clock; else hold it.

        The offset is measured on the pull itself (the page's ``now``, else its ``Date``), before
        any event of it is checked. An agent whose clock could never be measured (an answer with
        neither, e.g. through a proxy that strips ``Date``) has its events held, not stored
        unjudged. A first pull whose offset is beyond ``clock_skew`` cannot tell the events its
        clock dated wrong from older ones: they are stored, said once in the log, and the offset
        (metric, ``/healthz``, alert) tells the operator (docs/contracts.md).
        """
        events = obj["events"]
        offset = self.health.clock_offset
        if offset is None:
            if events and not self.health.held.get("clock_unmeasured"):
                log.warning(
                    "events held: the agent's clock cannot be measured agent=%s events=%d "
                    "detail=its answers carry neither 'now' nor a Date header",
                    obj["agent"],
                    len(events),
                )
            self.health.held["clock_unmeasured"] = len(events)
            return not events
        self.health.held.pop("clock_unmeasured", None)
        if first_pull and events and abs(offset) > self.skew and not self._unjudged:
            self._unjudged = True
            log.warning(
                "first pull from an agent whose clock is off: its earlier events cannot be "
                "judged and are stored as dated agent=%s offset_seconds=%.1f events=%d",
                obj["agent"],
                offset,
                len(events),
            )
        return True
