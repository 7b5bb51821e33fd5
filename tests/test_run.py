"""``pantau run``: the agent and the collector on this machine, stopped together by SIGTERM."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socketserver
import threading
import time
import urllib.request

import pytest
from agentproc import ROOT, AgentProcess, free_port, site_states, site_toml, write_config

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pantau.collector.cli") is None, reason="no collector in this build"
)


def test_run_starts_agent_and_collector_and_stops_both(tmp_path):
    service = socketserver.ThreadingTCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    port, collector_port = free_port(), free_port()
    config = write_config(
        tmp_path / "pantau.toml",
        port,
        [site_toml("kantor", "127.0.0.1", [f"tcp:{service.server_address[1]}"])],
    )
    config.write_text(
        config.read_text()
        + f'\n[collector]\nlisten = "127.0.0.1:{collector_port}"\n'
        + 'database = "sqlite:///state/collector.db"\n'
        + f'agents = ["http://127.0.0.1:{port}"]\npull_interval = 0.5\n'
    )
    sites_url = f"http://127.0.0.1:{collector_port}/api/v1/sites"
    try:
        # From the repository root, like the README's quick start (./pantau is not the package).
        with AgentProcess(config, port, command="run", cwd=ROOT) as both:
            both.wait_ready()
            both.wait_for(lambda ev: site_states(ev) == {"kantor": "up"})
            deadline, state = time.monotonic() + 30, None
            while time.monotonic() < deadline and state != "up":
                try:
                    with urllib.request.urlopen(sites_url, timeout=5) as resp:
                        state = json.load(resp)["sites"][0]["state"]
                except OSError:
                    pass
                time.sleep(0.3)
            assert state == "up", both.log_text()[-3000:]
            # SIGHUP reaches both (the collector logs into the same output).
            both.send(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                text = both.log_text()
                if (
                    "pantau.collector.cli: reloaded" in text
                    and "pantau.agent.runtime.agent: reloaded" in text
                ):
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"not both reloaded:\n{both.log_text()[-3000:]}")
            with urllib.request.urlopen(sites_url, timeout=5) as resp:
                assert json.load(resp)["sites"][0]["state"] == "up"
            # The collector child dies: restarted (after 1 s of back-off), the agent untouched.
            first = int(re.search(r"collector started pid=(\d+)", both.log_text()).group(1))
            os.kill(first, signal.SIGKILL)
            deadline, pids = time.monotonic() + 30, [first]
            while time.monotonic() < deadline and len(pids) < 2:
                pids = [int(p) for p in re.findall(r"collector started pid=(\d+)", both.log_text())]
                time.sleep(0.2)
            assert len(pids) == 2 and pids[1] != first, both.log_text()[-3000:]
            assert "collector exited, restarting code=-9 restart_in_s=1" in both.log_text()
            deadline, state = time.monotonic() + 30, None
            while time.monotonic() < deadline and state != "up":
                try:
                    with urllib.request.urlopen(sites_url, timeout=5) as resp:
                        state = json.load(resp)["sites"][0]["state"]
                except OSError:
                    time.sleep(0.3)
            assert state == "up", both.log_text()[-3000:]
            assert both.stop(signal.SIGTERM) == 0
        text = both.log_text()
        assert "collector started pid=" in text and "collector stopped" in text, text[-6000:]
        assert "agent stopped" in text
        with pytest.raises(OSError):
            urllib.request.urlopen(sites_url, timeout=2)
    finally:
        service.shutdown()
        service.server_close()
