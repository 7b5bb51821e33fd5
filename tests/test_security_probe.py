"""The HTTP probe stays on its target: redirects to another host are not followed by default."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ssl
import types

from aiohttp import web
from test_probe_http import make_cert

from pantau.agent.probes import PROBES, ProbeContext, ProbeJob

LATER = datetime.datetime(2033, 1, 1, tzinfo=datetime.UTC)
SOONER = datetime.datetime(2029, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)


async def serve(host, routes, ssl_context=None):
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, 0, ssl_context=ssl_context).start()
    scheme = "https" if ssl_context else "http"
    return runner, f"{scheme}://{host}:{runner.addresses[0][1]}"


def prober(cross_host=(), verify_tls=True, credentials=None):
    settings = types.SimpleNamespace(
        credentials=credentials or {},
        timeout=3.0,
        verify_tls=verify_tls,
        ok_status=(200, 299),
        user_agent="pantau-test",
        cross_host_redirects=cross_host,
    )
    return PROBES["http"].make_prober(
        settings, ProbeContext(config=None, limiter=asyncio.Semaphore(4))
    )


async def run(p, site, url):
    try:
        return (await p.run([ProbeJob(site, f"http:{url}", url, None)]))[(site, f"http:{url}")]
    finally:
        await p.aclose()


async def test_redirect_to_another_host_is_not_followed_unless_the_site_opts_in():
    hits = []

    async def elsewhere(_request):
        hits.append(1)
        return web.Response(text="other host")

    other, other_url = await serve("127.0.0.2", {"/": elsewhere})

    async def away(_request):
        raise web.HTTPFound(f"{other_url}/")

    async def same(_request):
        raise web.HTTPFound("/final")

    async def final(_request):
        return web.Response(text="here")

    home, url = await serve("127.0.0.1", {"/away": away, "/same": same, "/final": final})
    try:
        result = await run(prober(), "web", f"{url}/away")
        # The redirect itself is the answer: 302 is outside ok_status 200-299, nothing sent on.
        assert not result.ok and result.values["http_status"] == 302
        assert hits == []
        result = await run(prober(), "web", f"{url}/same")
        assert result.ok and result.values["http_status"] == 200
        result = await run(prober(cross_host=("web",)), "web", f"{url}/away")
        assert result.ok and result.values["http_status"] == 200 and hits == [1]
        # Another site's opt-in is not this one's.
        result = await run(prober(cross_host=("other-site",)), "web", f"{url}/away")
        assert result.values["http_status"] == 302 and hits == [1]
    finally:
        await home.cleanup()
        await other.cleanup()


async def test_certificate_expiry_is_the_final_hosts(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    async def ok(_request):
        return web.Response(text="ok")

    final, final_url = await serve("127.0.0.2", {"/": ok}, make_cert(tmp_path / "b", SOONER))

    async def hop(_request):
        raise web.HTTPFound(f"{final_url}/")

    first, first_url = await serve("127.0.0.1", {"/": hop}, make_cert(tmp_path / "a", LATER))
    try:
        p = prober(cross_host=("web",), verify_tls=False)
        result = await run(p, "web", f"{first_url}/")
        assert result.ok
        assert result.values["cert_expiry"] == SOONER.timestamp()
    finally:
        await first.cleanup()
        await final.cleanup()


def _chain_context(tmp_path, leaf_end, middle_end, tls13_only=False):
    """A server context presenting leaf + intermediate (each with its own notAfter)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def build(subject, issuer, key, signer, end, ca):
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    middle = build("middle", "root", mid_key, root_key, middle_end, True)
    leaf = build("127.0.0.1", "middle", leaf_key, mid_key, leaf_end, False)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, middle))
    (tmp_path / "chain.pem").write_bytes(pem)
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "chain.pem", tmp_path / "leaf.key")
    if tls13_only:
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


async def test_certificate_expiry_is_the_whole_chains_earliest(tmp_path):
    async def ok(_request):
        return web.Response(text="ok")

    context = _chain_context(tmp_path, LATER, SOONER)
    runner, url = await serve("127.0.0.1", {"/": ok}, context)
    try:
        result = await run(prober(verify_tls=False), "web", f"{url}/")
        assert result.ok and result.values["cert_expiry"] == SOONER.timestamp()
    finally:
        await runner.cleanup()
    # A TLS 1.3-only server sends its chain encrypted: the leaf's date is what can be read.
    context = _chain_context(tmp_path, LATER, SOONER, tls13_only=True)
    runner, url = await serve("127.0.0.1", {"/": ok}, context)
    try:
        result = await run(prober(verify_tls=False), "web", f"{url}/")
        assert result.ok and result.values["cert_expiry"] == LATER.timestamp()
    finally:
        await runner.cleanup()


async def test_credentials_come_from_the_environment_and_stay_on_the_sites_host(monkeypatch):
    from pantau.config import HttpCredential

    monkeypatch.setenv("PANTAU_TEST_WEB_PASSWORD", "web-Secret-6f")
    seen = []

    async def elsewhere(request):
        seen.append(request.headers.get("Authorization"))
        return web.Response(text="other host")

    other, other_url = await serve("127.0.0.2", {"/": elsewhere})

    async def guarded(request):
        expected = "Basic " + base64.b64encode(b"monitor:web-Secret-6f").decode()
        if request.headers.get("Authorization") != expected:
            raise web.HTTPUnauthorized()
        if "away" in request.query:
            raise web.HTTPFound(f"{other_url}/")
        return web.Response(text="ok")

    home, url = await serve("127.0.0.1", {"/": guarded})
    credentials = {
        "web": HttpCredential(username="monitor", password_env="PANTAU_TEST_WEB_PASSWORD")
    }
    try:
        p = prober(credentials=credentials)
        result = await run(p, "web", f"{url}/")
        assert result.ok and result.values["http_status"] == 200
        result = await run(prober(), "web", f"{url}/")  # without credentials: refused
        assert not result.ok and result.values["http_status"] == 401
        p = prober(cross_host=("web",), credentials=credentials)
        result = await run(p, "web", f"{url}/?away=1")
        assert result.ok and seen == [None]  # followed (opted in), but no password sent there
    finally:
        await home.cleanup()
        await other.cleanup()
