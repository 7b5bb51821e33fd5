"""The first pull from an agent is judged by the clock offset measured on that same pull (issue
12): with the pull's ``now`` (or its ``Date``) the offset is known before any event is checked;
an agent whose answers carry neither has its events held, never stored unjudged, until a pull
measures its clock. A real collector process; a small HTTP server stands in for the agent (the
real agent always sends both)."""

from __future__ import annotations

import time

from agentproc import site_toml
from collectorproc import SITE, CollectorProcess, ScriptedLog, event, get, wait_for


def test_events_of_an_agent_whose_clock_cannot_be_measured_are_held_not_stored(tmp_path):
    t0 = time.time() - 600
    events = [event(1, "unknown", "up", t0), event(2, "up", "down", t0 + 10)]
    agent = ScriptedLog(events, high_water=2, clock=False)
    c = CollectorProcess(tmp_path / "c", [agent.url], [site_toml(SITE, "127.0.0.1", ["tcp:9"])])
    # Nothing of it stored yet: the agent is named by its URL until then.
    held = {"agent": agent.url, "reason": "clock_unmeasured"}
    try:
        c.start(healthy=False)
        wait_for(lambda: c.metric("pantau_collector_events_held", **held) == 2, "held")
        assert c.stored() == []
        assert c.metric("pantau_collector_agent_clock_offset_seconds", agent=agent.url) is None
        _, health = get(f"{c.api}/healthz")
        (problem,) = [p for p in health["problems"] if p.get("reason") == "clock_unmeasured"]
        assert problem["message"] == f"agent {agent.url}: 2 events held (clock_unmeasured)"
        assert "Date header" in problem["hint"]
        agent.clock = True  # the answers carry the agent's clock again: measured, checked, stored
        wait_for(lambda: len(c.stored()) == 2, "stored once the clock is measured")
        assert c.metric("pantau_collector_events_held", agent="x", reason=held["reason"]) == 0
        offset = c.metric("pantau_collector_agent_clock_offset_seconds", agent="x")
        assert offset is not None and abs(offset) < 5
        assert c.text().count("events held: the agent's clock cannot be measured agent=x") == 1
    finally:
        c.reap()
        agent.shutdown()
    assert "Traceback" not in c.text()
