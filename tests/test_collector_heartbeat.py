"""A live agent cut off from its collector keeps observing, and its ``observing`` checkpoints
say so afterwards (issue 12): real ``pantau agent`` and ``pantau collector`` processes, the
collector pulling through a loopback relay that the test cuts (a partition: the agent and its
probed service go on). With checkpoints, the time from the agent's first checkpoint in the cut
to its last event in it counts as observed (up), before and after unknown; without them
(``heartbeat = 0``), the whole cut stays unknown."""

from __future__ import annotations

import math
import time

import pytest
from agentproc import AgentProcess, free_port, site_toml, write_config
from collectorproc import CollectorProcess, Link, Service, wait_for

from pantau.events import parse_time

SITE = "layanan"
HEARTBEAT = 10.0  # seconds, the shortest allowed
CUT = 3.5 * HEARTBEAT  # at least three checkpoints in the cut


class Stack:
    """Agent -> link -> collector, for one ``heartbeat`` setting."""

    def __init__(self, folder, service: Service, heartbeat: float) -> None:
        folder.mkdir(parents=True)
        port = free_port()
        site = site_toml(SITE, "127.0.0.1", [f"tcp:{service.port}"])
        config = write_config(
            folder / "agent.toml", port, [site], name="a1", up_after=1, heartbeat=heartbeat
        )
        self.agent = AgentProcess(config, port)
        self.agent.wait_ready()
        self.link = Link(port)
        self.collector = CollectorProcess(folder / "c", [self.link.base], [site])

    def timeline(self) -> list[tuple[float, str]]:
        body = self.collector.json("/api/v1/timelines?from=1000000000")
        return [(t, s) for t, s in body["sites"][SITE]["timeline"]]

    def agent_up(self) -> bool | None:
        (a,) = self.collector.agents().values()
        return a["up"]

    def close(self) -> None:
        self.collector.reap()
        self.link.close()
        self.agent.__exit__()


def checkpoints(agent: AgentProcess) -> list[float]:
    return [
        parse_time(e["time"])
        for e in agent.events()
        if e["type"] == "agent" and e["reason"] == "observing"
    ]


@pytest.mark.slow
def test_checkpoints_fill_a_cut_with_what_the_agent_observed(tmp_path, service):
    beating = Stack(tmp_path / "beat", service, HEARTBEAT)
    silent = Stack(tmp_path / "silent", service, 0)
    stacks = (beating, silent)
    try:
        for s in stacks:
            s.collector.start()
        for s in stacks:
            wait_for(lambda s=s: s.timeline() and s.timeline()[-1][1] == "up", "the site up")
        for s in stacks:
            s.link.cut()
        for s in stacks:
            wait_for(lambda s=s: s.agent_up() is False, "the agent seen unreachable")
        for s in stacks:  # the collector's view during the cut: nobody vouches for the site
            wait_for(lambda s=s: s.timeline()[-1][1] == "unknown", "the site unknown")
        time.sleep(CUT)  # the agents go on probing; the service stays up
        mended = time.time()
        for s in stacks:
            s.link.mend()
        for s in stacks:
            wait_for(lambda s=s: s.agent_up() is True, "the agent reachable again")
            n = len(s.agent.events())  # all it recorded is stored, checkpoints included
            wait_for(
                lambda s=s, n=n: (
                    s.collector.metric("pantau_collector_events_ingested_total", agent="a1") >= n
                ),
                "the agent's log read",
            )
            wait_for(lambda s=s: s.timeline()[-1][1] == "up", "the site up again")
        assert not checkpoints(silent.agent)

        def unknown(s: Stack) -> list[tuple[float, float]]:
            tl = s.timeline()
            return [(t, tl[i + 1][0]) for i, (t, state) in enumerate(tl[:-1]) if state == "unknown"]

        # Without checkpoints: unknown from the cut until the collector reached the agent again.
        ((cut_silent, back),) = unknown(silent)
        assert back - cut_silent >= CUT and back >= mended
        # With them: unknown until the agent's first checkpoint in the cut, up from it to its
        # last event in the cut, unknown after that until the collector reached it again
        # (nobody vouches for that time: the agent might have died then).
        ((cut, first), (after_last, back)) = unknown(beating)
        beats = checkpoints(beating.agent)
        assert first == min(t for t in beats if t > cut)
        times = [parse_time(e["time"]) for e in beating.agent.events()]
        last = max(t for t in times if t < back)  # a checkpoint, or a change in the cut
        assert after_last == math.nextafter(last, math.inf) and back >= mended
        assert last - first >= HEARTBEAT  # two checkpoints or more apart: observed in between
        # The figures handed to assessors count the vouched-for time as up, the rest unknown.
        window = f"/api/v1/availability?site={SITE}&from={cut!r}&to={mended!r}"
        figures = beating.collector.json(window)["sites"][SITE]
        assert figures["up_seconds"] == pytest.approx(last - first, abs=0.01)
        assert figures["unknown_seconds"] == pytest.approx(mended - cut - (last - first), abs=0.01)
        assert figures["down_seconds"] == 0
        window = f"/api/v1/availability?site={SITE}&from={cut_silent!r}&to={mended!r}"
        figures = silent.collector.json(window)["sites"][SITE]
        assert figures["unknown_seconds"] == pytest.approx(mended - cut_silent, abs=0.01)
        assert figures["up_seconds"] == figures["down_seconds"] == 0
    finally:
        for s in stacks:
            s.close()
