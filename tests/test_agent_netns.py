"""The agent in a network namespace lab: dead links turn sites down and up with hysteresis, a cut
uplink makes the agent isolated. (Loss and delay measurement: tests/test_icmp_*.py.)"""

from __future__ import annotations

import re
import time

import pytest
from agentproc import AgentProcess, free_port, site_states, site_toml, write_config

pytestmark = pytest.mark.root

DOWN_AFTER, UP_AFTER = 3, 2
ICMP = {"interval": 1.0, "timeout": 0.5, "count": 2, "jitter": 0.0}


def metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(want)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else None


@pytest.fixture
def lab_agent(lab, tmp_path):
    """The agent runs in ``agent1``; sites office1 and office2; the canary is ``core``."""
    port = free_port()
    config = write_config(
        tmp_path / "agent.toml",
        port,
        [
            site_toml("office1", lab.address("office1"), ["icmp"]),
            site_toml("office2", lab.address("office2"), ["icmp"]),
        ],
        kinds={"icmp": ICMP},
        canaries=[lab.address("core")],
        down_after=DOWN_AFTER,
        up_after=UP_AFTER,
        traceroute=True,
    )
    with AgentProcess(config, port, ns=lab.ns("agent1")) as agent:
        agent.wait_ready()
        agent.wait_for(lambda ev: site_states(ev) == {"office1": "up", "office2": "up"})
        yield agent
        agent.stop()


def test_dead_link_turns_the_site_down_then_up_with_hysteresis(lab, lab_agent):
    agent = lab_agent
    mark = agent.events()[-1]["cursor"]
    lab.cut("office1")
    down = agent.wait_for(lambda ev: site_states(ev).get("office1") == "down", after=mark)
    _, text = agent.get("/metrics")
    office1_failures = r'^pantau_probe_failures_total\{[^}]*site="office1"[^}]*\} (\S+)$'
    failures = sum(float(v) for v in re.findall(office1_failures, text, re.M))
    # Down exactly when the down_after-th failed round was decided (a scrape may see one more).
    assert DOWN_AFTER <= failures <= DOWN_AFTER + 1
    site_event = [e for e in down if e["type"] == "site"][-1]
    assert site_event["reason"] in ("timeout", "unreachable")
    assert site_event["isolated"] is False
    # The path breaks behind the router: its answer ("unreachable") makes it the last hop.
    assert site_event["hop"] == lab.link_between("agent1", "core").side("core")[1]
    assert metric(text, "pantau_site_up", site="office1") == 0
    assert metric(text, "pantau_site_up", site="office2") == 1
    assert metric(text, "pantau_agent_isolated") == 0

    mark = down[-1]["cursor"]
    lab.restore("office1")
    cut_over = time.monotonic()
    up = agent.wait_for(lambda ev: site_states(ev).get("office1") == "up", after=mark)
    elapsed = time.monotonic() - cut_over
    assert [(e["old"], e["new"], e["reason"]) for e in up if e["type"] == "site"] == [
        ("down", "up", "recovered")
    ]
    # up_after rounds of 1 s: not sooner than one interval, not much later than up_after + 1.
    assert ICMP["interval"] * (UP_AFTER - 1) <= elapsed <= ICMP["interval"] * (UP_AFTER + 2) + 2
    assert not [e for e in down + up if e["site"] == "office2"]


def test_cut_uplink_isolates_the_agent_and_tags_events(lab, lab_agent):
    agent = lab_agent
    mark = agent.events()[-1]["cursor"]
    lab.cut("agent1")  # the agent's own uplink: canary and every site unreachable
    events = agent.wait_for(
        lambda ev: site_states(ev) == {"office1": "down", "office2": "down"}, after=mark
    )
    agent_events = [e for e in events if e["type"] == "agent"]
    assert [(e["old"], e["new"], e["reason"]) for e in agent_events] == [
        ("connected", "isolated", "isolated")
    ]
    assert agent_events[0]["site"] is None and agent_events[0]["isolated"] is True
    # The isolation was known (first failed round) before any site went down.
    assert events.index(agent_events[0]) < min(
        i for i, e in enumerate(events) if e["type"] == "site"
    )
    assert all(e["isolated"] for e in events)
    assert all(e["hop"] is None for e in events)  # no route out: nothing to trace
    _, text = agent.get("/metrics")
    assert metric(text, "pantau_agent_isolated") == 1
    assert metric(text, "pantau_canary_up", target=lab.address("core")) == 0

    mark = events[-1]["cursor"]
    lab.restore("agent1")
    back = agent.wait_for(
        lambda ev: site_states(ev) == {"office1": "up", "office2": "up"}, after=mark
    )
    assert [(e["old"], e["new"], e["reason"]) for e in back if e["type"] == "agent"] == [
        ("isolated", "connected", "recovered")
    ]
    assert not any(e["isolated"] for e in back)
    _, text = agent.get("/metrics")
    assert metric(text, "pantau_agent_isolated") == 0
