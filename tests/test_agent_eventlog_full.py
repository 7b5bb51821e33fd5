"""The agent's event log on a real full disk (a small tmpfs), with the real agent process.

While the log cannot be written: ``/healthz`` answers 503 naming the cause, the metrics show
the log down, the pending events and the drops by reason; probe detail is dropped before site
changes, and every site's chain of site events stays unbroken. Once space is back the pending
events are written, ``/healthz`` is 200 again and the events API's ``dropped`` tells the
collector how many events were lost (kept across a restart).
"""

from __future__ import annotations

import itertools
import socket
import time
from pathlib import Path

from agentproc import AgentProcess, free_port, samples, site_toml, write_config
from test_eventlog import tiny_disk  # noqa: F401 (the fixture: a 1 MiB tmpfs)

SITES = [f"kantor-{i}" for i in range(6)]


class Toggle:
    """A TCP listener on loopback the test opens (sites up) and closes (refused: sites down)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sock: socket.socket | None = None

    def open(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", self.port), backlog=64)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def fill(path: Path) -> None:
    """Write until the file system refuses (ENOSPC), down to the last byte."""
    with open(path, "wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


metrics = samples


def wait_until(check, timeout: float, what: str, agent: AgentProcess):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen in {timeout} s\n{agent.log_text()[-3000:]}")


def states_now(agent: AgentProcess) -> dict[str, float]:
    m = metrics(agent)
    return {site: m.get(("pantau_site_up", (("site", site),)), -1.0) for site in SITES}


def test_full_disk_is_reported_and_site_chains_survive(
    tmp_path: Path,
    tiny_disk: Path,  # noqa: F811 (the fixture imported above)
) -> None:
    toggle = Toggle()
    toggle.open()
    sites = [site_toml(s, "127.0.0.1", [f"tcp:{toggle.port}"]) for s in SITES]
    port = free_port()
    config = write_config(
        tmp_path / "pantau.toml", port, sites, state_dir=str(tiny_disk), event_pending_max=10
    )
    try:
        with AgentProcess(config, port) as agent:
            agent.wait_ready()
            agent.wait_for(lambda ev: sum(e["type"] == "site" for e in ev) == len(SITES))
            assert agent.get("/healthz")[0] == 200
            assert metrics(agent)[("pantau_agent_eventlog_up", ())] == 1.0

            fill(tiny_disk / "junk")
            toggle.close()  # every site goes down: 12 events the log cannot take
            _, body = wait_until(
                lambda: (r := agent.get("/healthz"))[0] == 503 and r, 20, "503", agent
            )
            [problem] = body["problems"]
            assert body["status"] == "degraded"
            assert problem["component"] == "eventlog" and problem["severity"] == "critical"
            assert "full" in problem["error"]
            assert str(tiny_disk) in problem["hint"] and problem["since"]
            # /metrics may serve a body up to 1 s old (scrapers back to back share it).
            m = wait_until(
                lambda: (x := metrics(agent))[("pantau_agent_eventlog_up", ())] == 0.0 and x,
                5,
                "eventlog_up 0",
                agent,
            )
            assert m[("pantau_agent_events_pending", ())] >= 1

            # Two more changes while the disk stays full: up again, then down again.
            for want, action in ((1.0, toggle.open), (0.0, toggle.close)):
                action()
                wait_until(
                    lambda w=want: set(states_now(agent).values()) == {w}, 20, f"{want}", agent
                )
            m = metrics(agent)
            dropped = {
                dict(k[1])["reason"]: v
                for k, v in m.items()
                if k[0] == "pantau_agent_events_dropped_total"
            }
            assert dropped["probe_detail"] > 0
            assert m[("pantau_agent_events_pending", ())] <= 10
            assert agent.get("/healthz")[0] == 503

            (tiny_disk / "junk").unlink()
            wait_until(lambda: agent.get("/healthz")[0] == 200, 20, "200 after space", agent)
            m = wait_until(
                lambda: (x := metrics(agent))[("pantau_agent_eventlog_up", ())] == 1.0 and x,
                5,
                "eventlog_up 1",
                agent,
            )
            assert m[("pantau_agent_events_pending", ())] == 0.0
            total_dropped = sum(
                v for k, v in m.items() if k[0] == "pantau_agent_events_dropped_total"
            )
            events = agent.events()
            _, page = agent.get("/api/v1/events?after=0")
            assert page["dropped"] == total_dropped > 0
            assert_chains_unbroken(events, final="down")
        # The count of lost events survives a restart: it is in the log itself.
        with AgentProcess(config, port) as agent:
            agent.wait_ready()
            _, page = agent.get("/api/v1/events?after=0")
            assert page["dropped"] == total_dropped
    finally:
        toggle.close()


def assert_chains_unbroken(events: list[dict], final: str) -> None:
    """Every site's site events follow on (each ``old`` is the previous ``new``)."""
    for site in SITES:
        chain = [e for e in events if e["type"] == "site" and e["site"] == site]
        assert chain[0]["old"] == "unknown", chain
        for before, after in itertools.pairwise(chain):
            assert after["old"] == before["new"], chain
        assert chain[-1]["new"] == final, chain
