"""Events counted lost stay counted across a collector restart (issue 12): the count by reason
is kept with the cursor in the store (migration 0006), so the metric and ``/healthz`` still show
it after ``pantau collector`` restarts. A real collector process; the agent is a small HTTP server
standing in for one whose log went back in time after it had announced more events than the
collector read (the real agent's log cannot be made to do that on demand)."""

from __future__ import annotations

import signal
import time

from agentproc import site_toml
from collectorproc import SITE, CollectorProcess, ScriptedLog, event, get, wait_for


def test_events_lost_to_a_log_that_went_back_stay_counted_after_a_restart(tmp_path):
    t0 = time.time() - 600
    first = [event(1, "unknown", "up", t0), event(2, "up", "down", t0 + 10)]
    first.append(event(3, "down", "up", t0 + 20))
    agent = ScriptedLog(first, high_water=10)  # announces 10, the collector reads 3
    site = site_toml(SITE, "127.0.0.1", ["tcp:9"])
    c = CollectorProcess(tmp_path / "c", [agent.url], [site])
    try:
        c.start()
        wait_for(lambda: len(c.stored()) == 3, "the first three events stored")
        # The log went back (restored from a backup that had 1..2). What it had announced beyond
        # the collector's cursor (4..10) is lost: counted, not hidden.
        agent.events, agent.high_water = first[:2], 2
        lost = {"agent": "x", "reason": "log_went_back"}
        wait_for(lambda: c.metric("pantau_collector_events_lost_total", **lost) == 7, "lost")
        # It records a new third event: stored too, beside the old third (another segment).
        agent.events, agent.high_water = [*first[:2], event(3, "down", "up", t0 + 30)], 3
        wait_for(lambda: len(c.stored()) == 4, "the new third event stored")
        for restart in (False, True):
            if restart:
                assert c.stop(signal.SIGTERM) == 0
                c.start(healthy=False)
            # (Exported once the agent was pulled since the start.)
            wait_for(lambda: c.metric("pantau_collector_events_lost_total", **lost) == 7, "kept")
            retention = c.metric(
                "pantau_collector_events_lost_total", agent="x", reason="retention"
            )
            assert retention == 0
            _, health = get(f"{c.api}/healthz")
            messages = [p["message"] for p in health["problems"]]
            assert "agent x: 7 events lost before the collector read them" in messages, health
        assert len(c.stored()) == 4  # both third events, each once, under their segments
        assert c.text().count("agent log went back in time agent=x") == 1
    finally:
        c.reap()
        agent.shutdown()
    assert "Traceback" not in c.text()
