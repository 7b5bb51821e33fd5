"""Checking one answer of an agent's event API (pure): what to store, hold, refuse and why.

An event that fails a check is refused (``rejected``, counted by reason and logged) and the
cursor moves past it: it can never be stored, and waiting on it would stall the agent for good.
An event a little ahead of the collector's clock is *held*: the page ends before it and it is
read again next round, until the collector's clock has caught up with it. A page that is not a
page at all (bad JSON, too deep, missing fields) moves nothing.

Times are checked against a sane range: before 2000 or more than :data:`MAX_AHEAD` ahead of the
collector is no time an agent can have recorded. An event recorded after the previous pull (its
cursor above the high-water mark the agent reported then) but dated before that pull, while the
agent's clock is measured behind the collector's, was recorded by a wrong clock: refused
(``clock_behind``), so that a clock a day slow cannot write day-long phantom outages into history.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from typing import Any

from pantau.events import Event, parse_time

log = logging.getLogger(__name__)

#: The fixed set of rejection reasons (label values of events_rejected_total).
REJECT_REASONS = (
    "bad_json",
    "bad_page",
    "too_large",
    "bad_event",
    "bad_cursor",
    "agent_mismatch",
    "implausible_time",
    "clock_behind",
    "identity",
)
#: Earliest plausible event time (2000-01-01T00:00:00Z).
MIN_TIME = 946684800.0
#: Events further ahead of the collector's clock than this are refused, not held (seconds).
MAX_AHEAD = 86400.0
#: Column widths of the store (collector/schema.py): longer values could not be stored.
MAX_AGENT, MAX_LOG_ID, MAX_SITE = 128, 100, 64


@dataclasses.dataclass(frozen=True, slots=True)
class Checks:
    """What events are checked against, for one page.

    ``now`` and ``skew``: events after ``now + skew`` are held (up to ``now + MAX_AHEAD``).
    ``fresh_after``/``fresh_since``: the agent's high-water mark at the previous pull and when it
    was read; ``clock_behind``: the agent's clock is measured behind by more than ``skew`` now.
    ``clock_right``: it is measured within ``skew``; an event ahead was then recorded by a clock
    that was ahead, and holding it would stall the agent's log until its time came: refused.
    """

    now: float
    skew: float
    fresh_after: int | None = None
    fresh_since: float = 0.0
    clock_behind: bool = False
    clock_right: bool = False  # the agent's clock is measured within ``skew`` now


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """A checked page: the events to store, what was refused (by reason) and held."""

    agent: str
    log_id: str
    events: tuple[Event, ...]
    next: int
    oldest: int
    more: bool
    rejected: Counter[str]
    held: int = 0  # events ahead of the collector's clock, left for a later pull
    high_water: int | None = None
    agent_now: float | None = None


class BadPage(ValueError):
    """The answer is not an event page; ``reason`` is one of :data:`REJECT_REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _int(obj: dict[str, Any], key: str, required: bool = True) -> int | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadPage("bad_page", f"field {key!r} is {value!r}, expected an integer >= 0")
    return value


def parse_page(body: bytes) -> dict[str, Any]:
    """The JSON object of an answer, its envelope checked.

    Raises
    ------
    BadPage
        Not JSON, nested too deep for the parser, or not a page; nothing of it may be used.
    """
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPage("bad_json", f"not JSON: {exc}") from None
    except RecursionError:
        raise BadPage("bad_json", "JSON nested too deeply to parse") from None
    if not isinstance(obj, dict):
        raise BadPage("bad_page", f"page is a {type(obj).__name__}, expected an object")
    agent, log_id = obj.get("agent"), obj.get("log_id")
    if not isinstance(agent, str) or not agent or not isinstance(log_id, str) or not log_id:
        raise BadPage("bad_page", "fields 'agent' and 'log_id' must be non-empty strings")
    if len(agent) > MAX_AGENT or len(log_id) > MAX_LOG_ID:
        raise BadPage(
            "bad_page", f"'agent' longer than {MAX_AGENT} or 'log_id' than {MAX_LOG_ID} characters"
        )
    if not isinstance(obj.get("events"), list) or not isinstance(obj.get("more"), bool):
        raise BadPage("bad_page", "field 'events' must be a list and 'more' a boolean")
    _int(obj, "next"), _int(obj, "oldest"), _int(obj, "high_water", required=False)
    now = obj.get("now")
    if now is not None:
        try:
            obj["now"] = parse_time(now) if isinstance(now, str) else None
        except ValueError:
            obj["now"] = None
        if obj["now"] is not None and not MIN_TIME <= obj["now"] < 4102444800.0:
            obj["now"] = None
    return obj


def check_page(obj: dict[str, Any], after: int, checks: Checks) -> Page:
    """Check the events of a parsed page (:func:`parse_page`) asked ``after`` a cursor."""
    agent, nxt = obj["agent"], obj["next"]
    if nxt < after:
        raise BadPage("bad_page", f"next ({nxt}) is before after ({after})")
    accepted: list[Event] = []
    rejected: Counter[str] = Counter()
    last, held = after, 0
    raw = obj["events"]
    for i, item in enumerate(raw):
        event, reason, detail = _check_event(item, agent, last, nxt, checks)
        if reason == "future":
            assert event is not None
            # Held: the page ends before it, so it is read again, in order, next time.
            held, nxt = len(raw) - i, event.cursor - 1
            log.debug("events held agent=%s reason=future cursor=%d", agent, event.cursor)
            break
        if event is None:
            rejected[reason] += 1
            log.warning("event rejected agent=%s reason=%s detail=%s", agent, reason, detail)
            continue
        accepted.append(event)
        last = event.cursor
    more = bool(obj["more"]) and not held
    return Page(
        agent,
        obj["log_id"],
        tuple(accepted),
        max(nxt, after),
        obj["oldest"],
        more,
        rejected,
        held,
        obj.get("high_water"),
        obj.get("now"),
    )


def _check_event(
    item: Any, agent: str, last: int, nxt: int, checks: Checks
) -> tuple[Event | None, str, str]:
    """The event, or None with the refusal reason and its detail (reason ``future``: held)."""
    try:
        event = Event.from_json(item)
    except ValueError as exc:
        return None, "bad_event", str(exc)
    except (OverflowError, OSError) as exc:  # a time no platform can represent
        return None, "implausible_time", f"time {item.get('time')!r}: {exc}"
    if event.agent != agent:
        return None, "agent_mismatch", f"event of {event.agent!r} in the log of {agent!r}"
    if not last < event.cursor <= nxt:
        return None, "bad_cursor", f"cursor {event.cursor} not in ({last}, {nxt}]"
    if event.site is not None and len(event.site) > MAX_SITE:
        return None, "bad_event", f"site id longer than {MAX_SITE} characters"
    shown = item.get("time")
    if not MIN_TIME <= event.time <= checks.now + MAX_AHEAD:
        return None, "implausible_time", f"time {shown!r} is outside 2000 .. now + 1 day"
    if event.time > checks.now + checks.skew:
        if checks.clock_right:
            return (
                None,
                "implausible_time",
                f"time {shown!r} is ahead of the collector's clock, by an agent clock right now",
            )
        return event, "future", f"time {shown!r} is ahead of the collector's clock"
    if (
        checks.clock_behind
        and checks.fresh_after is not None
        and event.cursor > checks.fresh_after
        and event.time < checks.fresh_since - checks.skew
    ):
        return (
            None,
            "clock_behind",
            f"time {shown!r} is before the previous pull, by an agent clock measured behind",
        )
    return event, "", ""
