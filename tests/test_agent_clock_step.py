"""Rounds run on the monotonic clock: a wall-clock step does not stall them (real agent process).

The machine's clock is never touched: the agent runs under libfaketime (Debian ``libfaketime``),
which shifts only the wall clock of that one process (``FAKETIME_DONT_FAKE_MONOTONIC=1``) and
re-reads the shift from a file on every call, so the test steps the agent's clock back one hour
while it runs. Under APScheduler 3 (before issue 12) the same step stopped every round for an
hour while ``/metrics`` kept the last states.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from agentproc import AgentProcess, free_port, samples, site_toml, write_config

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def rounds(agent: AgentProcess) -> float:
    return samples(agent).get(("pantau_agent_rounds_total", (("kind", "tcp"),)), 0.0)


@pytest.mark.parametrize("step", ["-3600", "+3600"], ids=["back-1h", "forward-1h"])
def test_wall_clock_step_does_not_stall_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    if not LIBFAKETIME.exists():
        pytest.skip("libfaketime is not installed (Debian package libfaketime)")
    shift = tmp_path / "faketime"
    shift.write_text("+0\n")
    monkeypatch.setenv("LD_PRELOAD", str(LIBFAKETIME))
    monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", str(shift))
    monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
    monkeypatch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    server = socket.create_server(("127.0.0.1", 0))
    try:
        sites = [site_toml("kantor", "127.0.0.1", [f"tcp:{server.getsockname()[1]}"])]
        port = free_port()
        config = write_config(tmp_path / "pantau.toml", port, sites)
        with AgentProcess(config, port) as agent:
            agent.wait_ready()
            agent.wait_for(lambda ev: any(e["type"] == "site" for e in ev))
            before_step = rounds(agent)
            shift.write_text(f"{step}\n")
            time.sleep(3.0)  # six intervals of 0.5 s
            after = rounds(agent)
            assert after - before_step >= 3, agent.log_text()[-2000:]
            m = samples(agent)
            assert m[("pantau_site_up", (("site", "kantor"),))] == 1.0
            # under 3 intervals + timeout (1.9 s) plus the 1 s a body may be served again
            assert m[("pantau_agent_round_age_seconds", (("kind", "tcp"),))] < 3.0
            assert agent.get("/healthz")[0] == 200
            # Events written after the step carry the stepped wall clock (what the collector's
            # clock-offset check is for), and the log still takes them.
            server.close()
            events = agent.wait_for(
                lambda ev: any(e["type"] == "site" and e["new"] == "down" for e in ev)
            )
            assert [e["new"] for e in events if e["type"] == "site"] == ["up", "down"]
    finally:
        server.close()
