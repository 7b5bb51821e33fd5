"""Helpers to run real agent processes in tests: configs, free ports, the HTTP API, signals."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from promstack import free_port

__all__ = ["AgentProcess", "free_port", "samples", "site_states", "site_toml", "write_config"]

ROOT = Path(__file__).resolve().parents[1]


def site_toml(site_id: str, address: str, probes: list[str], kind: str = "office") -> str:
    return (
        f'[[sites]]\nid = "{site_id}"\nname = "{site_id}"\nkind = "{kind}"\n'
        f'lat = -1.25\nlon = 116.85\naddress = "{address}"\nprobes = {json.dumps(probes)}\n'
    )


def write_config(
    path: Path,
    port: int,
    sites: list[str],
    kinds: dict[str, dict[str, object]] | None = None,
    **agent: object,
) -> Path:
    """A config with fast rounds (0.5 s) for tests.

    ``kinds`` overrides ``[agent.KIND]`` keys, ``agent`` overrides ``[agent]`` keys.
    """
    settings = {
        "name": "test-agent",
        "listen": f"127.0.0.1:{port}",
        "state_dir": "state",
        "down_after": 2,
        "up_after": 2,
        "traceroute": False,
        **agent,
    }
    lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    for kind in ("icmp", "tcp", "http"):
        table = {"interval": 0.5, "timeout": 0.4, "jitter": 0.0, **(kinds or {}).get(kind, {})}
        lines += [f"[agent.{kind}]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n\n" + "\n".join(sites))
    return path


class AgentProcess:
    """``pantau agent --config FILE`` (or another ``command``) as a child process.

    It runs in the root namespace, or inside namespace ``ns``.

    Inside a namespace the agent's loopback API is reached with ``ip netns exec NS curl``.
    """

    def __init__(
        self,
        config: Path,
        port: int,
        ns: str | None = None,
        command: str = "agent",
        cwd: Path | None = None,
        wrapper: tuple[str, ...] = (),
    ) -> None:
        self.config, self.port, self.ns = config, port, ns
        if ns and shutil.which("curl") is None:  # the API inside a namespace is read with curl
            pytest.fail("curl not found: install the Debian package curl (bash .ci/install-deps)")
        # ``wrapper``: a command the agent runs under, e.g. ("faketime", "-f", "-1d").
        prefix = [*(["ip", "netns", "exec", ns] if ns else []), *wrapper]
        self.base = f"http://127.0.0.1:{port}"
        self.log = config.parent / "agent.log"
        argv = [sys.executable, "-P", "-m", "pantau.cli", command, "--config", str(config)]
        with open(self.log, "ab") as out:
            # its own process group: a wrapper such as faketime forks the agent and neither
            # forwards signals nor takes the agent with it when killed (agents were left running)
            self.proc = subprocess.Popen(
                [*prefix, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd or config.parent,
                start_new_session=True,
            )

    def get(self, path: str) -> tuple[int, dict | str]:
        if self.ns:
            return self._get_in_ns(path)
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as resp:
                body = resp.read().decode()
                status = resp.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read().decode(), exc.code
        if body.startswith("{"):
            return status, json.loads(body)
        return status, body

    def _get_in_ns(self, path: str) -> tuple[int, dict | str]:
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.ns,
                "curl",
                "-s",
                "-m",
                "5",
                "-w",
                "\n%{http_code}",
                self.base + path,
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode != 0:
            raise OSError(f"curl in {self.ns} failed ({done.returncode}): {done.stderr}")
        body, _, code = done.stdout.rpartition("\n")
        return int(code), json.loads(body) if body.startswith("{") else body

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"agent not ready in {timeout} s:\n{self.log_text()}")

    def events(self, after: int = 0) -> list[dict]:
        out = []
        while True:
            status, body = self.get(f"/api/v1/events?after={after}&limit=1000")
            assert status == 200, body
            out += body["events"]
            after = body["next"]
            if not body["more"]:
                return out

    def wait_for(self, predicate, timeout: float = 20.0, after: int = 0) -> list[dict]:
        """Poll the event log until ``predicate(events)`` holds; return the events."""
        deadline = time.monotonic() + timeout
        events: list[dict] = []
        while time.monotonic() < deadline:
            events = self.events(after)
            if predicate(events):
                return events
            time.sleep(0.2)
        raise AssertionError(
            f"condition not met in {timeout} s; events: {events}\n{self.log_text()[-3000:]}"
        )

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self._signal_group(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
            raise

    def _signal_group(self, sig: int) -> None:
        """Signal the agent and whatever wrapper it runs under (one process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
        else:  # the wrapper is gone; an agent it forked may not be
            self._signal_group(signal.SIGKILL)


def samples(agent: AgentProcess) -> dict[tuple[str, tuple], float]:
    """Every sample of the agent's /metrics: (name, sorted label pairs) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    _, text = agent.get("/metrics")
    assert isinstance(text, str)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def site_states(events: list[dict]) -> dict[str, str]:
    """The latest state of every site according to ``site`` events."""
    out: dict[str, str] = {}
    for e in events:
        if e["type"] == "site":
            out[e["site"]] = e["new"]
    return out
