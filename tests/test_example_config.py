"""The shipped ``config.example.toml`` run as the README's quick start runs it: every site is up.

``pantau run`` starts the agent and the collector on a copy of the example (its inventory
included) with only the two ports moved to free ones, so the test runs beside anything else on
this machine. The example's own timing (30 s rounds, up after 2 good rounds) is kept: the test
takes about 45 s.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from agentproc import ROOT, AgentProcess, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("pantau.collector.cli") is None,
        reason="no collector in this build",
    ),
]


def _example_copy(tmp: Path, agent_port: int, collector_port: int) -> Path:
    """config.example.toml and examples/ copied to ``tmp``, ports 9469/9470 moved."""
    shutil.copytree(ROOT / "examples", tmp / "examples")
    config = tmp / "config.example.toml"
    config.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    for path in (config, tmp / "examples" / "sites.csv"):
        text = path.read_text(encoding="utf-8")
        text = text.replace(":9469", f":{agent_port}").replace(":9470", f":{collector_port}")
        path.write_text(text, encoding="utf-8")
    return config


def _sites(url: str) -> dict[str, str]:
    try:
        with urllib.request.urlopen(f"{url}/api/v1/sites", timeout=5) as resp:
            return {s["id"]: s["state"] for s in json.load(resp)["sites"]}
    except OSError:
        return {}


def test_every_example_site_comes_up_and_the_home_page_says_what_runs(tmp_path):
    agent_port, collector_port = free_port(), free_port()
    config = _example_copy(tmp_path, agent_port, collector_port)
    collector = f"http://127.0.0.1:{collector_port}"
    with AgentProcess(config, agent_port, command="run") as both:
        both.wait_ready()
        # The agent says by when sites can be up; the example promises every site up in a minute.
        deadline = time.monotonic() + 30
        while "up within seconds=" not in both.log_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        found = re.search(r"up within seconds=(\d+)", both.log_text())
        assert found, both.log_text()[-3000:]
        assert int(found.group(1)) <= 60 - 10  # leaves the collector's 10 s pull

        states: dict[str, str] = {}
        deadline = time.monotonic() + 180  # generous: a loaded machine may be slow, never wrong
        while time.monotonic() < deadline:
            states = _sites(collector)
            if states and set(states.values()) == {"up"}:
                break
            time.sleep(1)
        assert states and set(states.values()) == {"up"}, (states, both.log_text()[-3000:])
        assert len(states) == 8  # examples/sites.csv (7) and the inline web-portal

        with urllib.request.urlopen(f"{collector}/", timeout=5) as resp:
            assert resp.headers.get_content_type() == "text/html"
            home = resp.read().decode()
        assert "8 up" in home
        for link in ("/metrics", "/api/v1/sites", "/api/v1/openapi.json", "docs/operations.md"):
            assert link in home, link
        assert f"http://127.0.0.1:{agent_port}/metrics" in home
        assert both.stop(signal.SIGTERM) == 0
    text = both.log_text()
    # the log shows what matters: no alembic chatter, no warnings on the shipped example
    assert "alembic" not in text, text[-3000:]
    assert not [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]
