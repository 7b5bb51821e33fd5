"""The agent's health: what ``/healthz`` reports, from the event log writer and the rounds.

Pure functions from snapshots to :class:`Problem` records; the runtime gathers the snapshots and
the server renders them. A ``critical`` problem makes ``/healthz`` answer 503. The fields follow
the collector's ``/healthz`` (docs/contracts.md): ``component``, ``severity``, ``message``,
``error``, ``since``, ``hint``, plus component-specific figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class LogHealth:
    """The writer's view of the event log (see pantau.agent.runtime.recorder)."""

    up: bool
    path: str
    error: str | None  # the store's words for the last failure, while it fails
    since: float | None  # Unix time of the first failure of this episode
    pending: int
    dropped: int  # events lost over the life of this log (recorded ones and this run's)


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the agent, as ``/healthz`` lists it."""

    component: str  # "eventlog", "rounds"
    severity: str  # "critical" (503) or "warning"
    message: str
    hint: str
    error: str | None = None
    since: float | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "component": self.component,
            "severity": self.severity,
            "message": self.message,
            "error": self.error,
            "since": _rfc3339(self.since),
            "hint": self.hint,
        }
        out.update(self.details)
        return out


def _rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def eventlog_problems(h: LogHealth) -> list[Problem]:
    """A critical problem while the event log cannot be written, else none."""
    if h.up:
        return []
    folder = h.path.rpartition("/")[0] or "."
    return [
        Problem(
            component="eventlog",
            severity="critical",
            message="the event log cannot be written; state changes wait in memory and the "
            "oldest probe detail is dropped first when they are too many",
            hint=f"free space on the filesystem holding {folder} (or fix its permissions); "
            "pending events are written as soon as it works again",
            error=h.error,
            since=h.since,
            details={"path": h.path, "pending": h.pending, "dropped": h.dropped},
        )
    ]


def round_problems(stale: Mapping[str, float], intervals: Mapping[str, float]) -> list[Problem]:
    """A critical problem per probe kind whose rounds stopped finishing (``stale``: kind -> age
    in seconds, from pantau.agent.runtime.scheduler)."""
    return [
        Problem(
            component="rounds",
            severity="critical",
            message=f"no {kind} round finished for {age:.0f} s "
            f"(interval {intervals.get(kind, 0):g} s); its results are no longer exported",
            hint="see the agent's log for 'round skipped' or 'probe round failed'; restart the "
            "agent if rounds do not resume",
            details={"kind": kind, "age_seconds": round(age, 3)},
        )
        for kind, age in sorted(stale.items())
    ]
