"""Shared by the benchmarks that run a whole agent (bench/agent_exposition, bench/soak): a
generated loopback inventory and config, ``pantau agent`` as a child process, its own memory and
CPU from /proc, its metrics; the agent stopped and its folder removed at the end.

Scripts import it by path (``sys.path.insert(0, <bench folder>)``), so they run from the
repository root or from anywhere, with the interpreter pantau is installed for.
"""

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


def proc_usage(pid: int) -> tuple[float, float, float]:
    """(VmRSS MiB, VmHWM MiB, user + system CPU seconds) of a live process, its own figures
    (HWM: that process's peak, never the parent's ``ru_maxrss``)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return values["VmRSS"], values["VmHWM"], cpu


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    url: str
    workdir: Path

    def memory(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the agent process alone, MiB (HWM: its own peak)."""
        rss, hwm, _ = proc_usage(self.proc.pid)
        return rss, hwm

    def cpu_seconds(self) -> float:
        """User + system CPU time of the agent process so far."""
        return proc_usage(self.proc.pid)[2]

    def check_alive(self) -> None:
        """Stop the benchmark with the end of the agent's log if the agent has exited."""
        if self.proc.poll() is not None:
            log = (self.workdir / "agent.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"agent exited {self.proc.returncode}:\n{log}")

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
    n: int,
    interval: float,
    icmp: dict[str, object] | None = None,
    *,
    canaries: list[str] | None = None,
    keep: bool = False,
) -> Iterator[Agent]:
    """``pantau agent`` on n loopback ICMP sites; stopped at exit and its folder removed
    (unless ``keep``: then its path is printed to stderr)."""
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
        # jitter 0: the scheduling lag then measures the scheduler, not a random start delay.
        settings = {"interval": interval, "timeout": 1.0, "count": 3, "jitter": 0.0, **(icmp or {})}
        extra = {"canaries": canaries} if canaries else {}
        config.write_text(
            tomli_w.dumps(
                {
                    "agent": {
                        "name": "bench",
                        "listen": f"127.0.0.1:{port}",
                        "state_dir": str(workdir / "state"),
                        "traceroute": False,
                        **extra,
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
        if keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def wait_rounds(agent: Agent, rounds: int, timeout: float) -> float:
    """Wait until the agent finished ``rounds`` ICMP rounds; return how many it has."""
    deadline = time.monotonic() + timeout
    done = 0.0
    while time.monotonic() < deadline:
        agent.check_alive()
        with contextlib.suppress(OSError):
            done = agent.value("pantau_agent_rounds_total", kind="icmp") or 0.0
            if done >= rounds:
                return done
        time.sleep(1.0)
    raise SystemExit(f"only {done} of {rounds} rounds in {timeout} s")
