"""Slow clients are cut on both HTTP servers (agent and collector API), and the others are served:
a client that reads its response at a few bytes a second, or never (a socket with a tiny receive
buffer), is reset at the write deadline; headers trickling on a kept-alive connection, and an
idle kept-alive connection, are closed. Closures are counted by cause and logged once per cause.
Real servers on loopback ports, real client sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pantau.agent.runtime.eventlog import EventLog, Retention
from pantau.agent.runtime.exposition import TextFamily
from pantau.agent.runtime.server import make_app as agent_app
from pantau.agent.runtime.server import start_server
from pantau.collector.api import make_app as collector_app
from pantau.collector.api import start_api
from pantau.collector.service import Collector
from pantau.collector.store import open_store
from pantau.config import CollectorConfig
from pantau.httplimits import ServerLimits
from pantau.inventory import Site

#: The bounds of both servers here (seconds); the assertions allow far more (``BOUND``).
DEADLINE = 1.0
#: A closure must come within this (never without the deadline: the client never reads).
BOUND = 60.0
TCP_CLOSE = 7  # tcp_info.tcpi_state of a reset connection (include/net/tcp_states.h)


@dataclasses.dataclass
class Server:
    port: int
    big: str  # the path of a large answer (several MB)
    registry: CollectorRegistry

    def closed(self, cause: str) -> float:
        value = self.registry.get_sample_value(
            "pantau_http_connections_closed_total", {"cause": cause}
        )
        assert value is not None
        return value


@contextlib.asynccontextmanager
async def agent_server(tmp_path) -> AsyncIterator[Server]:
    log = EventLog(tmp_path / "events.db", Retention(1e9, 1000), clock=lambda: 1.0)
    lines = [f'pantau_site_up{{site="site-{i:06d}"}} 1.0\n' for i in range(100_000)]
    registry = CollectorRegistry()
    limits = ServerLimits(16, DEADLINE, DEADLINE, 30.0, DEADLINE)
    app = agent_app(
        registry,
        log,
        "a1",
        lambda: [TextFamily("pantau_site_up", "gauge", "Site state", lines)],
        limits=limits,
    )
    runner = await start_server(app, "127.0.0.1:0")
    try:
        yield Server(runner.addresses[0][1], "/metrics", registry)
    finally:
        await runner.cleanup()
        log.close()


@contextlib.asynccontextmanager
async def collector_server(tmp_path) -> AsyncIterator[Server]:
    store = open_store(f"sqlite:///{tmp_path}/c.db", "c1")
    sites = [
        Site(id=f"site-{i:05d}", name=f"Situs {i}", kind="bts", lat=-1.2, lon=116.8)
        for i in range(20_000)
    ]
    c = Collector(CollectorConfig(agents=()), sites, store, clock=lambda: 1_900_000_000.0)
    await c.start()
    registry = CollectorRegistry()
    app = collector_app(c, registry)
    runner = await start_api(
        app, "127.0.0.1:0", 16, DEADLINE, write_timeout=DEADLINE, registry=registry
    )
    try:
        yield Server(runner.addresses[0][1], "/api/v1/sites", registry)
    finally:
        await runner.cleanup()
        store.close()


SERVERS = {"agent": agent_server, "collector": collector_server}


def slow_client(port: int, path: str) -> socket.socket:
    """A connection with a tiny receive buffer that has sent its request."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: the window
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    sock.setblocking(False)
    return sock


def state(sock: socket.socket) -> int:
    return struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


async def until_reset(sock: socket.socket, trickle: bool) -> float:
    """Seconds until the server reset ``sock`` (reading 10 bytes every 0.2 s when ``trickle``)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < BOUND:
        if trickle:
            try:
                sock.recv(10)
            except BlockingIOError:
                pass
            except ConnectionResetError:
                return loop.time() - start
        if state(sock) == TCP_CLOSE:
            return loop.time() - start
        await asyncio.sleep(0.2)
    raise AssertionError(f"connection still open after {BOUND} s")


@pytest.mark.parametrize("kind", list(SERVERS))
@pytest.mark.parametrize("trickle", [False, True], ids=["reads-nothing", "reads-10-bytes"])
async def test_a_slow_reader_is_reset_at_the_write_deadline_others_served(
    tmp_path, caplog, kind, trickle
):
    caplog.set_level(logging.WARNING, "pantau.httplimits")
    async with SERVERS[kind](tmp_path) as server:
        slow = [slow_client(server.port, server.big) for _ in range(3)]
        try:
            url = f"http://127.0.0.1:{server.port}"
            async with aiohttp.ClientSession() as http:
                # Served while the three wait on their readers (or after they were cut).
                async with http.get(url + "/healthz") as r:
                    assert r.status in (200, 503)  # answered (the collector has no pull yet)
                async with http.get(url + server.big) as r:
                    assert r.status == 200 and len(await r.read()) > 1_000_000
            await asyncio.gather(*(until_reset(s, trickle) for s in slow))
        finally:
            for s in slow:
                s.close()
        assert server.closed("write_timeout") == 3
        lines = [m for m in caplog.messages if "cause=write_timeout" in m]
        assert len(lines) == 1, lines  # one line for the three, not one per connection
        assert "closed=1 total=1" in lines[0]


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Read until the server closes (True) or ``BOUND`` passes (False)."""
    try:
        while await asyncio.wait_for(reader.read(1 << 16), BOUND):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


@pytest.mark.parametrize("kind", list(SERVERS))
@pytest.mark.parametrize("after", ["idle", "trickling-headers"])
async def test_a_kept_alive_connection_is_closed_when_idle_or_trickling(tmp_path, kind, after):
    async with SERVERS[kind](tmp_path) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
            assert head.startswith(b"HTTP/1.1 ")  # a first request answered, kept alive
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
            if after == "trickling-headers":
                writer.write(b"GET /healthz HTTP/1.1\r\n")

                async def trickle() -> None:
                    for _ in range(int(BOUND / 0.2)):  # a header line every 0.2 s, bounded
                        await asyncio.sleep(0.2)
                        if writer.is_closing():
                            return
                        writer.write(b"X-Slow: 1\r\n")

                task = asyncio.create_task(trickle())
                try:
                    assert await _closed_by_server(reader)
                finally:
                    task.cancel()
            else:
                assert await _closed_by_server(reader)
        finally:
            writer.close()
