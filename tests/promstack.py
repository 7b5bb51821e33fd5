"""Run Debian's Prometheus and Alertmanager binaries on loopback for tests, and talk to them.

Each server gets a free loopback port and its own data directory, and is killed by its fixture's
finalizer even when the test fails. Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

Argv = Callable[[int], list[str]]  # builds a server's command line for a port

PROMETHEUS_BIN = shutil.which("prometheus")
ALERTMANAGER_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, data: object | None = None, timeout: float = 5.0) -> object:
    """GET (or POST ``data`` as JSON) and decode the JSON answer."""
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


@dataclass
class Server:
    """A running server process on 127.0.0.1:``port``."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def run_server(name: str, argv_for_port: Argv, workdir: Path) -> Iterator[Server]:
    """Start ``argv_for_port(port)`` on a free port (retrying if another test took it)."""
    log = workdir / f"{name}.log"
    for _attempt in range(5):
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv_for_port(port), stdout=out, stderr=subprocess.STDOUT, cwd=workdir
            )
        server = Server(name, proc, port, log)
        try:
            server.wait_ready()
        except RuntimeError:
            if "address already in use" in log.read_text():
                continue
            raise
        except BaseException:
            server.stop()
            raise
        try:
            yield server
        finally:
            server.stop()
        return
    raise RuntimeError(f"{name}: no free port after 5 attempts")


def prometheus_argv(config: Path, data: Path, extra: Sequence[str] = ()) -> Argv:
    return lambda port: [
        PROMETHEUS_BIN,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        *extra,
    ]


def alertmanager_argv(config: Path, data: Path) -> Argv:
    return lambda port: [
        ALERTMANAGER_BIN,
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]


def query(prom: Server, expr: str, at: float | None = None) -> list[dict]:
    """Instant query through the HTTP API; the result vector (raises on a query error)."""
    params = {"query": expr}
    if at is not None:
        params["time"] = str(at)
    answer = http_json(f"{prom.url}/api/v1/query?{urllib.parse.urlencode(params)}")
    assert answer["status"] == "success", answer
    return answer["data"]["result"]
