"""HTTP(S) probe against real aiohttp servers on loopback, with a certificate the test makes."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import types

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from pantau.agent.probes import PROBES, ProbeContext, ProbeJob

NOT_AFTER = datetime.datetime(2031, 5, 17, 12, 30, 0, tzinfo=datetime.UTC)


def make_cert(tmp_path, not_after=NOT_AFTER):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


async def handler(request):
    if "sleep" in request.query:
        await asyncio.sleep(float(request.query["sleep"]))
    return web.Response(status=int(request.query.get("status", 200)), text="x" * 100_000)


async def serve(ssl_context=None):
    """A real aiohttp server on a free loopback port; returns its runner and base URL."""
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    scheme = "https" if ssl_context else "http"
    return runner, f"{scheme}://127.0.0.1:{runner.addresses[0][1]}/"


@pytest.fixture
async def server():
    runner, url = await serve()
    yield url
    await runner.cleanup()


@pytest.fixture
async def https_server(tmp_path):
    runner, url = await serve(make_cert(tmp_path))
    yield url
    await runner.cleanup()


def make(timeout=2.0, verify_tls=True, ok_status=(200, 399), limit=64, cross_host=()):
    settings = types.SimpleNamespace(
        timeout=timeout,
        verify_tls=verify_tls,
        ok_status=ok_status,
        user_agent="pantau-test",
        cross_host_redirects=cross_host,
    )
    return PROBES["http"].make_prober(
        settings, ProbeContext(config=None, limiter=asyncio.Semaphore(limit))
    )


def job(url, site="web"):
    return ProbeJob(site=site, probe=f"http:{url}", arg=url, address=None)


async def probe_one(prober, url):
    try:
        return (await prober.run([job(url)]))[("web", f"http:{url}")]
    finally:
        await prober.aclose()


async def test_ok_status_and_duration(server):
    result = await probe_one(make(), server)
    assert result.ok and result.reason == "ok"
    assert result.values["http_status"] == 200
    assert "cert_expiry" not in result.values
    assert 0 < result.duration < 2


@pytest.mark.parametrize(
    ("status", "ok_status", "ok"),
    [
        (500, (200, 399), False),
        (404, (200, 399), False),
        (500, (200, 599), True),
        (204, (200, 204), True),
        (302, (200, 299), False),
    ],
    ids=["500-default", "404-default", "500-widened", "204-edge", "302-not-followed-out"],
)
async def test_ok_status_range(server, status, ok_status, ok):
    url = f"{server}?status={status}"
    result = await probe_one(make(ok_status=ok_status), url)
    assert result.ok is ok
    assert result.values["http_status"] == status
    assert result.reason == ("ok" if ok else "http_status")


async def test_timeout(server):
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await probe_one(make(timeout=0.3), f"{server}?sleep=3")
    assert not result.ok and result.reason == "timeout"
    assert loop.time() - start < 1.5


async def test_refused():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await probe_one(make(), f"http://127.0.0.1:{port}/")
    assert not result.ok and result.reason == "refused"


async def test_tls_expiry_without_verification(https_server):
    result = await probe_one(make(verify_tls=False), https_server)
    assert result.ok, result.message
    assert result.values["cert_expiry"] == NOT_AFTER.timestamp()


async def test_self_signed_certificate_fails_verification(https_server):
    result = await probe_one(make(verify_tls=True), https_server)
    assert not result.ok and result.reason == "tls"
    assert result.values["cert_expiry"] == NOT_AFTER.timestamp()  # still shown


async def test_expired_certificate_fails_and_shows_when(tmp_path):
    expired = datetime.datetime(2025, 2, 1, tzinfo=datetime.UTC)
    runner, url = await serve(make_cert(tmp_path, not_after=expired))
    try:
        result = await probe_one(make(verify_tls=True), url)
    finally:
        await runner.cleanup()
    assert not result.ok and result.reason == "tls"
    assert result.values["cert_expiry"] == expired.timestamp()


async def test_collect_exports_status_and_expiry(server, https_server):
    prober = make(verify_tls=False)
    try:
        await prober.run([job(f"{server}?status=503", site="a"), job(https_server, site="b")])
    finally:
        await prober.aclose()
    registry = CollectorRegistry()
    registry.register(prober)  # the prober's collect() is a Prometheus collector
    probe_a = f"http:{server}?status=503"
    assert (
        registry.get_sample_value("pantau_http_status_code", {"site": "a", "probe": probe_a}) == 503
    )
    assert (
        registry.get_sample_value(
            "pantau_tls_cert_expiry_timestamp_seconds",
            {"site": "b", "probe": f"http:{https_server}"},
        )
        == NOT_AFTER.timestamp()
    )
    assert (
        registry.get_sample_value(
            "pantau_tls_cert_expiry_timestamp_seconds", {"site": "a", "probe": probe_a}
        )
        is None
    )
