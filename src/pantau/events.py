"""The state-change record shared by the agent's event log and the collector."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, Literal

EventType = Literal["probe", "site", "agent"]

#: Site and probe states.
STATES = frozenset({"unknown", "up", "down"})
#: Agent states (type "agent").
AGENT_STATES = frozenset({"connected", "isolated"})
#: The fixed set of reasons; anything else is a bug.
REASONS = frozenset(
    {
        "ok",
        "timeout",
        "unreachable",
        "ttl_exceeded",
        "refused",
        "reset",
        "dns",
        "tls",
        "http_status",
        "auth",
        "snmp_error",
        "if_down",
        "isolated",
        "error",
        "recovered",
        "removed",
        "on_battery",
        "on_mains",
    }
)
#: Power evidence (issue 16): a ``probe`` event with ``old == new`` (the probe's state, unchanged)
#: saying the site's UPS feeds the load from its battery, or from the mains again. Not a change of
#: the probe: the collector reads it for an outage's cause (``power``), docs/contracts.md.
POWER_REASONS = frozenset({"on_battery", "on_mains"})
#: The reason of an agent's checkpoint (not one of :data:`REASONS`, which say why something
#: changed): an ``agent`` event with ``old == new`` (its isolation
#: state, unchanged) recorded every ``[agent] heartbeat`` seconds while its rounds run, so that a
#: collector cut off from it learns afterwards that it kept observing (docs/contracts.md).
OBSERVING = "observing"


def format_time(ts: float) -> str:
    """Format a Unix timestamp as RFC 3339 UTC with milliseconds (``...T18:00:00.123Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> float:
    """Parse an RFC 3339 timestamp into a Unix timestamp; raises ValueError when malformed."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return dt.timestamp()


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One state change seen by one agent.

    ``cursor`` is 0 until the event log assigns it.
    """

    agent: str
    type: EventType
    site: str | None
    probe: str | None
    old: str
    new: str
    time: float
    reason: str
    isolated: bool = False
    hop: str | None = None
    cursor: int = 0

    @property
    def checkpoint(self) -> bool:
        """Whether this is an ``observing`` checkpoint (no change of anything)."""
        return self.reason == OBSERVING

    @property
    def evidence(self) -> bool:
        """Whether this is power evidence (``on_battery``/``on_mains``), no change of state."""
        return self.reason in POWER_REASONS

    def __post_init__(self) -> None:
        allowed = AGENT_STATES if self.type == "agent" else STATES
        if self.type not in ("probe", "site", "agent"):
            raise ValueError(f"event type {self.type!r} is not probe, site or agent")
        if self.old not in allowed or self.new not in allowed:
            raise ValueError(f"event states {self.old!r}->{self.new!r} not in {sorted(allowed)}")
        if self.reason not in REASONS and self.reason != OBSERVING:
            raise ValueError(f"event reason {self.reason!r} not in the fixed set")
        if self.type == "agent" and (self.site or self.probe):
            raise ValueError("agent events carry no site or probe")
        if self.reason == OBSERVING and (self.type != "agent" or self.old != self.new):
            raise ValueError("an 'observing' checkpoint is an agent event with old == new")
        if self.reason in POWER_REASONS and (self.type != "probe" or self.old != self.new):
            raise ValueError(f"a {self.reason!r} event is a probe event with old == new")
        if self.type != "agent" and not self.site:
            raise ValueError(f"{self.type} events need a site")
        if self.type == "probe" and not self.probe:
            raise ValueError("probe events need a probe")

    def to_json(self) -> dict[str, Any]:
        """The wire form documented in docs/contracts.md."""
        return {
            "cursor": self.cursor,
            "agent": self.agent,
            "type": self.type,
            "site": self.site,
            "probe": self.probe,
            "old": self.old,
            "new": self.new,
            "time": format_time(self.time),
            "reason": self.reason,
            "isolated": self.isolated,
            "hop": self.hop,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Event:
        """Validate one event off the wire; raises ValueError naming the bad field."""
        if not isinstance(obj, dict):
            raise ValueError(f"event is a {type(obj).__name__}, expected an object")
        try:
            cursor = obj["cursor"]
            if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 1:
                raise ValueError(f"cursor {cursor!r} is not a positive integer")
            for key in ("agent", "type", "old", "new", "time", "reason"):
                if not isinstance(obj[key], str):
                    raise ValueError(f"field {key!r} is not a string")
            for key in ("site", "probe", "hop"):
                if obj.get(key) is not None and not isinstance(obj[key], str):
                    raise ValueError(f"field {key!r} is not a string or null")
            return cls(
                agent=obj["agent"],
                type=obj["type"],
                site=obj.get("site"),
                probe=obj.get("probe"),
                old=obj["old"],
                new=obj["new"],
                time=parse_time(obj["time"]),
                reason=obj["reason"],
                isolated=bool(obj.get("isolated", False)),
                hop=obj.get("hop"),
                cursor=cursor,
            )
        except KeyError as exc:
            raise ValueError(f"event lacks field {exc.args[0]!r}") from None
