"""The agent's ``observing`` checkpoints: recorded only while its rounds progress and none is
stale, as an agent event that changes nothing (the collector's side is in
test_collector_outages.py and, with real processes, test_collector_heartbeat.py)."""

from __future__ import annotations

import asyncio

import pytest

from pantau.agent.runtime.heartbeat import Heartbeat, checkpoint
from pantau.events import Event


class Agent:
    """Round counts, stale kinds and recorded events, as the heartbeat sees the agent."""

    def __init__(self) -> None:
        self.rounds = 0
        self.stale: dict[str, float] = {}
        self.recorded: list[Event] = []
        self.now = 1_900_000_000.0

    def heartbeat(self, interval: float = 300.0) -> Heartbeat:
        return Heartbeat(
            interval,
            lambda: self.rounds,
            lambda: self.stale,
            lambda: ("a1", self.now, False),
            self.recorded.extend,
        )


def test_a_checkpoint_only_after_rounds_progressed_and_none_stale():
    agent = Agent()
    beat = agent.heartbeat()
    assert beat.tick() is None  # no round since it started: nothing to vouch for
    agent.rounds += 3
    event = beat.tick()
    assert event == checkpoint("a1", agent.now, False) and agent.recorded == [event]
    assert beat.tick() is None  # no round since the last checkpoint
    agent.rounds += 1
    agent.stale = {"icmp": 40.0}
    assert beat.tick() is None  # a kind stopped: the agent is not observing all its sites
    agent.stale = {}
    agent.rounds += 1
    assert beat.tick() is not None and beat.recorded == 2


@pytest.mark.parametrize("isolated", [False, True])
def test_a_checkpoint_changes_nothing(isolated):
    e = checkpoint("a1", 1_900_000_000.0, isolated)
    state = "isolated" if isolated else "connected"
    assert (e.type, e.old, e.new, e.reason, e.isolated) == (
        "agent",
        state,
        state,
        "observing",
        isolated,
    )
    assert e.checkpoint and e.site is None and e.probe is None
    assert Event.from_json({**e.to_json(), "cursor": 1}) == Event(**{**_fields(e), "cursor": 1})
    with pytest.raises(
        ValueError, match="'observing' checkpoint is an agent event with old == new"
    ):
        Event("a1", "agent", None, None, "connected", "isolated", 1.0, "observing")


def _fields(e: Event) -> dict:
    return {f: getattr(e, f) for f in e.__dataclass_fields__}


async def test_off_records_nothing_and_on_ticks_every_interval():
    agent = Agent()
    assert await asyncio.wait_for(agent.heartbeat(0).run(), 1) is None  # 0: returns at once
    beat = agent.heartbeat(0.01)
    task = asyncio.create_task(beat.run())
    for _ in range(200):  # bounded: rounds progress, checkpoints follow
        agent.rounds += 1
        await asyncio.sleep(0.01)
        if beat.recorded >= 2:
            break
    task.cancel()
    assert beat.recorded >= 2 and all(e.checkpoint for e in agent.recorded)
