"""Collector and agents as real processes, killed with SIGKILL in the middle of an outage.

The agent processes run the agent's real event API over its real event log (``_agent_standin``)
until ``pantau agent`` lands; the test appends the state changes probes would have recorded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pantau.agent.eventlog import EventLog, Retention

from pantau.events import Event

HERE = Path(__file__).resolve().parent
DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str):
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.loads(r.read())


def wait_for(check, what: str):
    end = time.monotonic() + DEADLINE
    last = None
    while time.monotonic() < end:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class Procs:
    """Starts and always reaps the processes of one test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.running = tmp, []

    def start(self, *args: str, log: str) -> subprocess.Popen:
        out = open(self.tmp / log, "ab")  # noqa: SIM115  (closed with the process)
        p = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=out, cwd=self.tmp
        )
        self.running.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.running:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)


@pytest.fixture
def procs(tmp_path):
    p = Procs(tmp_path)
    yield p
    p.stop_all()


def start_agent(procs: Procs, db: Path, name: str, port: int) -> subprocess.Popen:
    p = procs.start(str(HERE / "_agent_standin.py"), str(db), name, str(port), log=f"{name}.log")
    line = p.stdout.readline()
    assert line.strip() == str(port).encode(), f"agent did not start: {line!r}"
    return p


def start_collector(procs: Procs, config: Path, api: str) -> subprocess.Popen:
    p = procs.start("-m", "pantau.cli", "collector", "--config", str(config), log="collector.log")
    wait_for(lambda: http_json(f"{api}/healthz")["status"] == "ok", "collector health")
    return p


def write_config(tmp: Path, agent_ports: list[int], listen: int) -> Path:
    agents = ", ".join(f'"http://127.0.0.1:{p}"' for p in agent_ports)
    path = tmp / "pantau.toml"
    path.write_text(f"""
[collector]
listen = "127.0.0.1:{listen}"
database = "sqlite:///collector.db"
agents = [{agents}]
pull_interval = 0.2
agent_timeout = 1

[[sites]]
id = "bts-manggar"
name = "BTS Manggar"
kind = "bts"
lat = -1.21
lon = 116.97
district = "64.71.02"
""")
    return path


def emit(db: Path, agent: str, old: str, new: str, t: float) -> None:
    log = EventLog(db, Retention(86400 * 90, 1_000_000), time.time)
    try:
        log.append(
            [
                Event(
                    agent,
                    "site",
                    "bts-manggar",
                    None,
                    old,
                    new,
                    t,
                    "timeout" if new == "down" else "recovered",
                    False,
                    None,
                )
            ]
        )
    finally:
        log.close()


def outages(api: str):
    return http_json(f"{api}/api/v1/outages?site=bts-manggar")["outages"]


@pytest.mark.slow
def test_collector_killed_during_an_outage_records_it_once(tmp_path, procs):
    port, listen = free_port(), free_port()
    api, db = f"http://127.0.0.1:{listen}", tmp_path / "a1.db"
    start_agent(procs, db, "a1", port)
    config = write_config(tmp_path, [port], listen)
    t0 = time.time() - 100
    emit(db, "a1", "unknown", "up", t0)
    emit(db, "a1", "up", "down", t0 + 10)
    collector = start_collector(procs, config, api)
    wait_for(lambda: outages(api) and outages(api)[0]["open"], "an open outage")
    collector.send_signal(signal.SIGKILL)
    collector.wait(timeout=10)
    emit(db, "a1", "down", "up", t0 + 70)  # the site recovers while the collector is dead
    start_collector(procs, config, api)
    got = wait_for(lambda: [o for o in outages(api) if not o["open"]], "the outage to close")
    assert len(outages(api)) == 1
    (o,) = got
    start = o["start"]
    assert abs(_ts(start) - (t0 + 10)) < 0.01 and abs(_ts(o["end"]) - (t0 + 70)) < 0.01
    assert o["agents"] == ["a1"] and o["cause"] == "down"
    state = http_json(f"{api}/api/v1/agents")["agents"][0]
    assert state["ingested"] == 1  # the restarted collector read only the recovery


@pytest.mark.slow
def test_agent_killed_during_an_outage_records_it_once(tmp_path, procs):
    port, listen = free_port(), free_port()
    api, db = f"http://127.0.0.1:{listen}", tmp_path / "a1.db"
    agent = start_agent(procs, db, "a1", port)
    config = write_config(tmp_path, [port], listen)
    t0 = time.time() - 100
    emit(db, "a1", "unknown", "up", t0)
    emit(db, "a1", "up", "down", t0 + 10)
    collector = start_collector(procs, config, api)
    wait_for(lambda: outages(api) and outages(api)[0]["open"], "an open outage")
    agent.send_signal(signal.SIGKILL)
    agent.wait(timeout=10)
    wait_for(lambda: http_json(f"{api}/api/v1/agents")["agents"][0]["up"] is False, "agent down")
    with urllib.request.urlopen(f"{api}/metrics", timeout=2) as r:
        metrics = r.read().decode()
    assert 'pantau_collector_agent_up{agent="a1"} 0.0' in metrics
    (o,) = outages(api)
    assert o["open"]  # an unreachable agent neither ends nor opens outages
    emit(db, "a1", "down", "up", time.time() - 1)  # recorded by the agent's probes, then...
    recovered_at = _last_time(db)
    start_agent(procs, db, "a1", port)  # ...the agent comes back
    got = wait_for(lambda: [o for o in outages(api) if not o["open"]], "the outage to close")
    assert len(outages(api)) == 1
    assert abs(_ts(got[0]["start"]) - (t0 + 10)) < 0.01
    assert abs(_ts(got[0]["end"]) - recovered_at) < 0.01
    assert http_json(f"{api}/api/v1/agents")["agents"][0]["up"] is True
    collector.send_signal(signal.SIGTERM)
    assert collector.wait(timeout=15) == 0  # SIGTERM stops cleanly


def _ts(text: str) -> float:
    from pantau.events import parse_time

    return parse_time(text)


def _last_time(db: Path) -> float:
    log = EventLog(db, Retention(86400 * 90, 1_000_000), time.time)
    try:
        page = log.read(0, 1000)
        return page.events[-1].time
    finally:
        log.close()


def test_bad_config_exits_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[collector]\ndatabase = 'mysql://x'\n")
    res = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "collector", "--config", str(bad)],
        capture_output=True,
        timeout=60,
        env={**os.environ},
    )
    assert res.returncode == 2
    assert b"collector.database: 'mysql://x': use sqlite:///PATH or postgresql://" in res.stderr
