"""Real SNMP peers for tests and bench/snmp_poll: net-snmp snmpd, snmpsim and a delaying UDP proxy.

Everything listens on 127.0.0.1 (or inside a namespace the caller made) on a port found free at
run time; every process is stopped by its own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "snmp"
SNMPD = shutil.which("snmpd") or "/usr/sbin/snmpd"

# snmpsim drops privileges after binding and then cannot import lazily loaded stdlib modules
# from a root-only Python install (FIELD-NOTES): import them before the drop.
_SNMPSIM_WRAPPER = """
import importlib, runpy, sys
for name in (
    "dbm", "dbm.gnu", "dbm.ndbm", "dbm.dumb", "encodings.idna",
    "cryptography.hazmat.backends.openssl",  # DES and AES of the v3 user, loaded per message
):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
sys.argv[0] = "snmpsim-command-responder"
runpy.run_module("snmpsim.commands.responder", run_name="__main__")
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_udp(
    port: int,
    community: str = "public",
    timeout: float = 15.0,
    netns: str = "",
    host: str = "127.0.0.1",
) -> None:
    """Wait until an SNMP agent answers a v2c GET of sysUpTime.0 on host:port (loopback)."""
    cmd = ["snmpget", "-v2c", "-c", community, "-t", "0.3", "-r", "0"]
    cmd += [f"{host}:{port}", "1.3.6.1.2.1.1.3.0"]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": "/tmp"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(cmd, capture_output=True, env=env).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no SNMP agent answered on {host}:{port} within {timeout} s")


class Snmpd:
    """net-snmp snmpd in the foreground with its own config file, on 127.0.0.1:port."""

    def __init__(self, workdir: Path, port: int, lines: Sequence[str], netns: str = "") -> None:
        self.workdir, self.port, self.netns = workdir, port, netns
        self.conf = workdir / "snmpd.conf"
        persist = workdir / "persist"
        persist.mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([*lines, f"[snmp] persistentDir {persist}"]) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, community: str = "public") -> Snmpd:
        cmd = [SNMPD, "-f", "-Lf", str(self.workdir / "snmpd.log"), "-C", "-c", str(self.conf)]
        cmd.append(f"udp:127.0.0.1:{self.port}")
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        env = {**os.environ, "MIBS": ""}
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        wait_udp(self.port, community, netns=self.netns)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Snmpsim:
    """snmpsim serving ``.snmprec`` recordings (community = file name) as an unprivileged user."""

    def __init__(self, port: int, recordings: dict[str, Path], host: str = "127.0.0.1") -> None:
        self.port, self.host = port, host  # host: a loopback address (a UPS at its own)
        # its own world-readable folder: after the privilege drop, nobody must reach the data
        # (pytest's tmp_path lives under a root-only folder)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"pantau-snmpsim-{os.getpid()}-"))
        self.workdir.chmod(0o755)
        workdir = self.workdir
        data, cache = workdir / "data", workdir / "cache"
        data.mkdir(parents=True)
        cache.mkdir()
        for community, src in recordings.items():
            shutil.copy(src, data / f"{community}.snmprec")
        (workdir / "wrapper.py").write_text(_SNMPSIM_WRAPPER)
        for path in (workdir, data, cache, *data.iterdir()):
            shutil.chown(path, "nobody", "nogroup")
        self.proc: subprocess.Popen[bytes] | None = None
        self.community = next(iter(recordings))

    def start(self) -> Snmpsim:
        cmd = [sys.executable, str(self.workdir / "wrapper.py")]
        cmd += [f"--data-dir={self.workdir / 'data'}", f"--cache-dir={self.workdir / 'cache'}"]
        cmd += [f"--agent-udpv4-endpoint={self.host}:{self.port}"]
        cmd += ["--process-user=nobody", "--process-group=nogroup", "--log-level=error"]
        log = (self.workdir / "snmpsim.log").open("wb")
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=log, stderr=log)
        wait_udp(self.port, self.community, timeout=30, host=self.host)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        asyncio.get_running_loop().create_task(self._forward(data, addr))

    async def _forward(self, data: bytes, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[bytes] = loop.create_future()

        class _Once(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                if not reply.done():
                    reply.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(_Once, remote_addr=self.upstream)
        try:
            transport.sendto(data)
            answer = await asyncio.wait_for(reply, 5)
            await asyncio.sleep(self.delay)
            if self.transport is not None:
                self.transport.sendto(answer, client)
        except TimeoutError:
            pass
        finally:
            transport.close()


@contextlib.asynccontextmanager
async def delay_proxy(upstream_port: int, delay: float) -> Iterator[int]:  # type: ignore[misc]
    """A UDP relay on a free loopback port that answers ``delay`` seconds late (a slow device)."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Relay(("127.0.0.1", upstream_port), delay), local_addr=("127.0.0.1", 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()
