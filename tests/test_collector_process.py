"""Real processes: ``pantau agent`` probing a loopback TCP service, ``pantau collector`` pulling
them, each killed with SIGKILL in the middle of an outage and restarted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from agentproc import AgentProcess, free_port, site_toml, write_config
from collectorproc import CollectorProcess, Service, wait_for

from pantau.events import parse_time

SITE = "layanan"


def http_json(url: str):
    with urllib.request.urlopen(url, timeout=3) as r:
        return json.loads(r.read())


def collector_of(tmp: Path, agents: list[AgentProcess], service: Service) -> CollectorProcess:
    return CollectorProcess(tmp / "c", [a.base for a in agents], [site(service)])


def site(service: Service) -> str:
    return site_toml(SITE, "127.0.0.1", [f"tcp:{service.port}"])


def start_agent(tmp: Path, name: str, service: Service) -> AgentProcess:
    folder = tmp / name
    folder.mkdir(exist_ok=True)
    port = free_port()
    config = write_config(
        folder / "agent.toml",
        port,
        [site_toml(SITE, "127.0.0.1", [f"tcp:{service.port}"])],
        name=name,
        up_after=1,
    )
    agent = AgentProcess(config, port)
    agent.wait_ready()
    return agent


def changes(agent: AgentProcess, new: str) -> list[float]:
    """Times of the agent's site events to ``new``, oldest first."""
    return [
        parse_time(e["time"]) for e in agent.events() if e["type"] == "site" and e["new"] == new
    ]


@pytest.mark.slow
def test_collector_killed_during_an_outage_records_it_once(tmp_path, service):
    agents = [start_agent(tmp_path, name, service) for name in ("a1", "a2")]
    collector = collector_of(tmp_path, agents, service)
    try:
        collector.start()
        wait_for(
            lambda: http_json(f"{collector.api}/api/v1/sites")["sites"][0]["state"] == "up",
            "the site up",
        )
        service.down()
        wait_for(lambda: any(o["open"] for o in collector.outages(SITE)), "an open outage")
        assert collector.stop(signal.SIGKILL) == -signal.SIGKILL
        service.up()  # the service comes back while the collector is dead
        for a in agents:
            a.wait_for(lambda ev: ev and ev[-1]["new"] == "up" and len(ev) >= 3)
        collector.start()
        wait_for(lambda: [o for o in collector.outages(SITE) if not o["open"]], "the outage closed")
        (o,) = collector.outages(SITE)
        # both agents must agree (quorum 0.5 of 2): down when the second saw it, up with the first
        downs, ups = (
            [changes(a, "down")[-1] for a in agents],
            [changes(a, "up")[-1] for a in agents],
        )
        assert parse_time(o["start"]) == pytest.approx(max(downs), abs=1e-3)
        assert parse_time(o["end"]) == pytest.approx(min(ups), abs=1e-3)
        assert o["agents"] == ["a1", "a2"] and o["cause"] == "down"
        assert collector.stop(signal.SIGTERM) == 0  # SIGTERM stops cleanly
    finally:
        collector.reap()
        for a in agents:
            a.__exit__()
    assert "Traceback" not in collector.log.read_text()


@pytest.mark.slow
def test_agent_killed_during_an_outage_records_it_once(tmp_path, service):
    agent = start_agent(tmp_path, "a1", service)
    collector = collector_of(tmp_path, [agent], service)
    try:
        collector.start()
        service.down()
        wait_for(lambda: any(o["open"] for o in collector.outages(SITE)), "an open outage")
        down_at = changes(agent, "down")[-1]
        assert agent.stop(signal.SIGKILL) == -signal.SIGKILL
        wait_for(
            lambda: http_json(f"{collector.api}/api/v1/agents")["agents"][0]["up"] is False,
            "the agent reported down",
        )
        with urllib.request.urlopen(f"{collector.api}/metrics", timeout=3) as r:
            assert 'pantau_collector_agent_up{agent="a1"} 0.0' in r.read().decode()
        (o,) = collector.outages(SITE)
        assert o["open"]  # a dead agent neither ends nor opens an outage
        service.up()
        agent = AgentProcess(agent.config, agent.port)  # same state dir: same event log
        agent.wait_ready()
        wait_for(lambda: [o for o in collector.outages(SITE) if not o["open"]], "the outage closed")
        (o,) = collector.outages(SITE)
        assert parse_time(o["start"]) == pytest.approx(down_at, abs=1e-3)
        assert parse_time(o["end"]) == pytest.approx(changes(agent, "up")[-1], abs=1e-3)
        assert http_json(f"{collector.api}/api/v1/agents")["agents"][0]["up"] is True
    finally:
        collector.reap()
        agent.__exit__()


def test_bad_config_exits_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[collector]\ndatabase = 'mysql://x'\n")
    res = subprocess.run(
        [sys.executable, "-P", "-m", "pantau.cli", "collector", "--config", str(bad)],
        capture_output=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert b"collector.database: 'mysql://x': use sqlite:///PATH or postgresql://" in res.stderr


def agents_of(collector: CollectorProcess) -> dict[str, dict]:
    return {a["agent"]: a for a in http_json(f"{collector.api}/api/v1/agents")["agents"]}


@pytest.mark.slow
def test_sighup_adds_and_removes_agents_and_refuses_a_bad_config(tmp_path, service):
    a1, a2 = (start_agent(tmp_path, name, service) for name in ("a1", "a2"))
    collector = collector_of(tmp_path, [a1], service)
    try:
        collector.start()
        wait_for(lambda: agents_of(collector).get("a1", {}).get("ingested"), "a1 pulled")
        assert set(agents_of(collector)) == {"a1"}
        a2_events = len(a2.events())
        assert a2_events >= 1  # a2 logged the site up: it has something to pull

        collector.write([a1.base, a2.base], [site(service)])
        collector.proc.send_signal(signal.SIGHUP)
        wait_for(
            lambda: agents_of(collector).get("a2", {}).get("ingested") == a2_events,
            "the added agent pulled",
        )
        assert agents_of(collector)["a1"]["up"] is True

        # Invalid: refused, named in the log, and the running config (both agents) stays.
        collector.write([a1.base], [site(service)], extra="quorum = 7\n")
        collector.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in collector.log.read_text(), "the refusal logged")
        text = collector.log.read_text()
        assert "collector.quorum: Input should be less than or equal to 1" in text, text[-2000:]
        time.sleep(1)
        assert collector.proc.poll() is None
        assert set(agents_of(collector)) == {"a1", "a2"}
        assert http_json(f"{collector.api}/healthz")["status"] == "ok"

        # Valid again, a2 removed, listen changed: a2 stops, listen needs a restart.
        collector.write([a1.base], [site(service)], listen=free_port())
        collector.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: set(agents_of(collector)) == {"a1"}, "the removed agent gone")
        assert "restart needed" in collector.log.read_text()
        assert "key=collector.listen" in collector.log.read_text()
        assert collector.outages(SITE) == []  # no outage was opened by any of it
        assert collector.stop(signal.SIGTERM) == 0
    finally:
        collector.reap()
        for a in (a1, a2):
            a.__exit__()
    assert "Traceback" not in collector.log.read_text()
