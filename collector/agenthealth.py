"""What the collector knows of one agent, for metrics, ``/healthz`` and ``/api/v1/agents``."""

from __future__ import annotations

import dataclasses
from collections import Counter

#: Reasons of events_lost_total: dropped by the agent's retention before they were read; recorded
#: by an agent whose log then went back in time before they were read.
LOST_REASONS = ("retention", "log_went_back")


@dataclasses.dataclass(slots=True)
class AgentHealth:
    """What the collector knows of one agent, kept up to date by its puller."""

    source: str
    name: str | None = None
    up: bool | None = None
    caught_up: float | None = None  # last time a pull ended with nothing more to read
    ingested: int = 0
    rejected: Counter[str] = dataclasses.field(default_factory=Counter)
    missed: int = 0
    down_since: float | None = None  # when the current unreachable period began
    error: str | None = None  # why the last pull failed, while it is unreachable
    clock_offset: float | None = None  # agent clock minus collector clock, last pull
    lost: Counter[str] = dataclasses.field(default_factory=Counter)
    held: dict[str, int] = dataclasses.field(default_factory=dict)  # future, unknown_site
    conflict: str | None = None  # the identity answering at source, when not the pinned one

    @property
    def label(self) -> str:
        return self.name or self.source
