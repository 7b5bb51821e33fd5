"""Shared by the agent exposition benchmarks: a generated loopback inventory, the agent as a
child process, its own resident memory from /proc and its metrics."""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from prometheus_client.parser import text_string_to_metric_families


def targets(n: int) -> list[str]:
    """n loopback addresses 127.1.x.y (every 127/8 address answers on Linux lo)."""
    return [f"127.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}" for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    url: str
    workdir: Path

    def memory(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the agent process alone, MiB (HWM: its own peak)."""
        values = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the agent process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def body(self, gzip_ok: bool = False) -> bytes:
        headers = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
        req = urllib.request.Request(self.url + "/metrics", headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.read()

    def metrics(self) -> dict[tuple[str, tuple], float]:
        text = gzip.decompress(self.body(gzip_ok=True)).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        }

    def values(self, names: list[str], **labels: str) -> dict[str, float | None]:
        """Samples of the agent's own families from one scrape, found by prefix: parsing a
        50,000-site body with prometheus_client takes longer than the rounds waited for."""
        text = gzip.decompress(self.body(gzip_ok=True)).decode()
        suffix = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        wanted = {(n + suffix if labels else n) + " ": n for n in names}
        out: dict[str, float | None] = dict.fromkeys(names)
        for line in text.splitlines():
            if line.startswith("pantau_agent_"):
                for prefix, name in wanted.items():
                    if line.startswith(prefix):
                        out[name] = float(line.rsplit(" ", 1)[1])
        return out

    def value(self, name: str, **labels: str) -> float | None:
        return self.values([name], **labels)[name]


@contextlib.contextmanager
def running_agent(
    n: int, interval: float, icmp: dict[str, object] | None = None
) -> Iterator[Agent]:
    """``pantau agent`` on n loopback ICMP sites; stopped and its folder removed at exit."""
    workdir = Path(tempfile.mkdtemp(prefix="pantau-bench-"))
    try:
        inventory = workdir / "sites.csv"
        with inventory.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["id", "name", "kind", "lat", "lon", "address", "probes", "district"])
            for i, a in enumerate(targets(n)):
                out.writerow(
                    [f"s{i}", f"Site {i}", "hotspot", -1.2 - i * 1e-6, 116.8, a, "icmp", "64.71"]
                )
        port = free_port()
        config = workdir / "agent.toml"
        settings = {"interval": interval, "timeout": 1.0, "count": 3, "jitter": 0.0, **(icmp or {})}
        config.write_text(
            tomli_w.dumps(
                {
                    "agent": {
                        "name": "bench",
                        "listen": f"127.0.0.1:{port}",
                        "state_dir": str(workdir / "state"),
                        "traceroute": False,
                        "icmp": settings,
                    },
                    "inventory": {"sites": [str(inventory)]},
                }
            )
        )
        argv = [sys.executable, "-m", "pantau.cli", "--log-level", "WARNING", "agent"]
        proc = subprocess.Popen(
            [*argv, "--config", str(config)],
            stdout=(workdir / "agent.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        agent = Agent(proc, f"http://127.0.0.1:{port}", workdir)
        try:
            yield agent
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def wait_rounds(agent: Agent, rounds: int, timeout: float) -> float:
    """Wait until the agent finished ``rounds`` ICMP rounds; return how many it has."""
    deadline = time.monotonic() + timeout
    done = 0.0
    while time.monotonic() < deadline:
        if agent.proc.poll() is not None:
            log = (agent.workdir / "agent.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"agent exited {agent.proc.returncode}:\n{log}")
        with contextlib.suppress(OSError):
            done = agent.value("pantau_agent_rounds_total", kind="icmp") or 0.0
            if done >= rounds:
                return done
        time.sleep(1.0)
    raise SystemExit(f"only {done} of {rounds} rounds in {timeout} s")
