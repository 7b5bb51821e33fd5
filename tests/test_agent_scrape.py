"""Scrapes of the agent's /metrics never multiply its work, and slow or numerous clients are
bounded: one shared render, gzip when asked, connection bound, header and request deadlines.
Real aiohttp server on a loopback port; real clients (aiohttp, raw sockets)."""

from __future__ import annotations

import asyncio
import gzip

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pantau.agent.runtime.eventlog import EventLog, Retention
from pantau.agent.runtime.exposition import TextFamily
from pantau.agent.runtime.scrape import accepts_gzip
from pantau.agent.runtime.server import make_app, start_server
from pantau.httplimits import ServerLimits


class Families:
    """10,000 sites' worth of lines (many slices, so a render spans many loop turns)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> list[TextFamily]:
        self.calls += 1
        lines = [f'pantau_site_up{{site="s{i}"}} 1.0\n' for i in range(20_000)]
        return [TextFamily("pantau_site_up", "gauge", "Site state", lines)]


@pytest.fixture
async def served(tmp_path, request):
    log = EventLog(tmp_path / "events.db", Retention(1e9, 1000), clock=lambda: 1.0)
    families = Families()
    header_timeout = getattr(request, "param", 0.5)
    limits = ServerLimits(max_connections=8, header_timeout=header_timeout, request_timeout=5.0)
    app = make_app(CollectorRegistry(), log, "a1", families, limits=limits, reuse_body_for=0)
    runner = await start_server(app, "127.0.0.1:0")
    port = runner.addresses[0][1]
    yield families, port
    await runner.cleanup()
    log.close()


async def test_concurrent_scrapes_share_one_render(served):
    families, port = served
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as session:

        async def scrape() -> bytes:
            async with session.get(url) as resp:
                assert resp.status == 200
                return await resp.read()

        bodies = await asyncio.gather(*(scrape() for _ in range(6)))
        assert families.calls == 1  # one render for six scrapes in flight together
        assert len(set(bodies)) == 1 and b'pantau_site_up{site="s19999"} 1.0' in bodies[0]
        await scrape()  # a scrape after the render finished gets a fresh one
        assert families.calls == 2


async def test_gzip_when_asked_identity_otherwise(served):
    _, port = served
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            assert resp.headers["Vary"] == "Accept-Encoding"
            packed = await resp.read()
            assert int(resp.headers["Content-Length"]) == len(packed)
        async with session.get(url, headers={"Accept-Encoding": "identity"}) as resp:
            assert "Content-Encoding" not in resp.headers
            plain = await resp.read()
    assert gzip.decompress(packed) == plain
    assert plain.startswith(b"# HELP") or b"# HELP pantau_site_up" in plain
    assert len(packed) * 5 < len(plain)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, GZIP;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("identity", False),
        (None, False),
        ("", False),
    ],
    ids=["gzip", "list", "q-upper", "q0", "star", "identity", "none", "empty"],
)
def test_accept_encoding(header, ok):
    assert accepts_gzip(header) is ok


@pytest.mark.parametrize("served", [30.0], indirect=True, ids=["header-timeout-30s"])
async def test_connections_beyond_the_bound_are_closed_at_once(served):
    _, port = served
    held = []
    try:
        for _ in range(8):  # the bound: these stay open (idle, inside the header deadline)
            r, w = await asyncio.open_connection("127.0.0.1", port)
            held.append((r, w))
        await asyncio.sleep(0.05)
        r, w = await asyncio.open_connection("127.0.0.1", port)
        # Closed by the server long before any deadline (30 s): only the bound does that.
        assert await asyncio.wait_for(r.read(), 10) == b""
        w.close()
    finally:
        for _, w in held:
            w.close()
    await asyncio.sleep(0.1)
    # The bound is on open connections: once they are closed, clients are served again.
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as resp,
    ):
        assert resp.status == 200


async def test_a_client_trickling_headers_is_closed_at_the_header_deadline(served):
    _, port = served
    loop = asyncio.get_running_loop()
    r, w = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()
    w.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never the blank line
    try:
        for _ in range(30):  # one header line every 0.1 s, bounded (3 s at most)
            if r.at_eof():
                break
            w.write(b"X-Slow: 1\r\n")
            try:
                if await asyncio.wait_for(r.read(100), 0.1) == b"":
                    break
            except TimeoutError:
                continue
        closed_after = loop.time() - started
    finally:
        w.close()
    assert r.at_eof()  # closed within the 3 s of trickling: only the header deadline does that
    assert closed_after >= 0.45  # and not before it (0.5 s)


async def test_per_site_part_reused_until_its_key_changes_head_always_fresh(tmp_path):
    """The per-site part is rendered again only when the key changes (a round finished); the
    agent's own families are fresh in every scrape; the body stays one valid gzip stream."""
    from prometheus_client import Gauge

    log = EventLog(tmp_path / "events.db", Retention(1e9, 1000), clock=lambda: 1.0)
    families = Families()
    registry = CollectorRegistry()
    gauge = Gauge("pantau_agent_sites", "Sites", registry=registry)
    key = [1]
    app = make_app(registry, log, "a1", families, render_key=lambda: key[0], reuse_body_for=0)
    runner = await start_server(app, "127.0.0.1:0")
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    try:
        async with aiohttp.ClientSession() as session:
            bodies = []
            for value, k in ((1, 1), (2, 1), (3, 2)):
                gauge.set(value)
                key[0] = k
                async with session.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                    bodies.append(await resp.text())  # aiohttp inflates it: valid gzip
                assert f"pantau_agent_sites {value}.0" in bodies[-1]
                assert 'pantau_site_up{site="s19999"} 1.0' in bodies[-1]
        assert families.calls == 2  # key 1 once, key 2 once
    finally:
        await runner.cleanup()
        log.close()


async def test_a_whole_body_is_served_again_within_the_reuse_window(tmp_path):
    """Scrapers polling back to back get the same bytes for reuse_body_for seconds."""
    from prometheus_client import Gauge

    log = EventLog(tmp_path / "events.db", Retention(1e9, 1000), clock=lambda: 1.0)
    registry = CollectorRegistry()
    gauge = Gauge("pantau_agent_sites", "Sites", registry=registry)
    families = Families()
    app = make_app(registry, log, "a1", families, reuse_body_for=30.0)
    runner = await start_server(app, "127.0.0.1:0")
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    try:
        async with aiohttp.ClientSession() as session:
            texts = []
            for value in (1, 2):
                gauge.set(value)
                async with session.get(url) as resp:
                    texts.append(await resp.text())
        assert texts[0] == texts[1] and "pantau_agent_sites 1.0" in texts[1]
        assert families.calls == 1
    finally:
        await runner.cleanup()
        log.close()
