"""TCP probe against real listeners on loopback: connect, refused, timeout, concurrency bound."""

from __future__ import annotations

import asyncio
import errno
import socket
import types

import pytest

from pantau.agent.probes import PROBES, ProbeContext, ProbeJob
from pantau.agent.probes.tcp import reason_of


def prober(timeout=1.0, limit=64):
    settings = types.SimpleNamespace(timeout=timeout)
    context = ProbeContext(config=None, limiter=asyncio.Semaphore(limit))
    return PROBES["tcp"].make_prober(settings, context)


def job(port, site="s1", address="127.0.0.1"):
    return ProbeJob(site=site, probe=f"tcp:{port}", arg=str(port), address=address)


async def test_connect_to_a_listener_succeeds():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        results = await prober().run([job(port)])
    result = results[("s1", f"tcp:{port}")]
    assert result.ok and result.reason == "ok"
    assert 0 < result.duration < 1
    assert result.values["connect_seconds"] == result.duration


async def test_closed_port_is_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The port is free again: nothing listens there.
    result = (await prober().run([job(port)]))[("s1", f"tcp:{port}")]
    assert not result.ok and result.reason == "refused"


async def test_full_backlog_times_out_within_the_deadline():
    # A listener that never accepts, with its backlog filled: Linux drops further SYNs,
    # so the next connect hangs: a real timeout without leaving loopback.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = (await prober(timeout=0.5).run([job(port)]))[("s1", f"tcp:{port}")]
        elapsed = loop.time() - start
    finally:
        for c in fillers:
            c.close()
        listener.close()
    assert not result.ok and result.reason == "timeout"
    assert 0.45 < elapsed < 1.5


async def test_concurrency_is_bounded_by_the_shared_limiter(monkeypatch):
    active = peak = 0

    async def handle(reader, writer):
        nonlocal active, peak
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limiter = asyncio.Semaphore(3)
    original = asyncio.open_connection

    async def counting(*args, **kwargs):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.02)
            return await original(*args, **kwargs)
        finally:
            active -= 1

    p = PROBES["tcp"].make_prober(
        types.SimpleNamespace(timeout=1.0), ProbeContext(config=None, limiter=limiter)
    )
    jobs = [job(port, site=f"s{i}") for i in range(12)]
    monkeypatch.setattr(asyncio, "open_connection", counting)  # a spy around the real call
    async with server:
        results = await p.run(jobs)
    assert all(r.ok for r in results.values()) and len(results) == 12
    assert peak == 3


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TimeoutError(), "timeout"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns"),
        (ConnectionRefusedError(), "refused"),
        (ConnectionResetError(), "reset"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable"),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), "timeout"),
        (OSError(errno.EACCES, "Permission denied"), "error"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_reason_of_socket_errors(exc, reason):
    # DNS failures cannot be produced on loopback without querying a resolver elsewhere,
    # so the mapping itself is checked here.
    assert reason_of(exc) == reason
