"""The HTTP probe stays on its target: redirects to another host are not followed by default."""

from __future__ import annotations

import asyncio
import datetime
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


def prober(cross_host=(), verify_tls=True):
    settings = types.SimpleNamespace(
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
