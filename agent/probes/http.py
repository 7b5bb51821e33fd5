"""HTTP(S) probe: status, duration and the TLS certificate's expiry of a site's URL."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from cryptography import x509
from prometheus_client.core import GaugeMetricFamily, Metric

from pantau.agent.probes import ProbeContext, ProbeJob, ProbeResult
from pantau.agent.probes.tcp import reason_of
from pantau.agent.probes.tlschain import server_chain
from pantau.webconfig import basic_auth_header

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)


def cert_expiry(der: bytes | None) -> float | None:
    """Unix time of the notAfter of a DER certificate, or None without one."""
    if not der:
        return None
    return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)


def final_of(exc: BaseException, job: ProbeJob) -> str:
    """The URL a failed request was for (the redirect target it failed on), else the job's."""
    info = getattr(exc, "request_info", None)
    return str(info.real_url) if info is not None else job.arg or ""


def _http_reason(exc: BaseException) -> str:
    """Map an aiohttp failure to one of :data:`pantau.events.REASONS`."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "tls"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return reason_of(exc.os_error)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "reset"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientOSError):
        return reason_of(OSError(exc.errno, str(exc)))
    return reason_of(exc)


class HttpProber:
    """GETs every job's URL; success is a status inside ``ok_status``.

    A fresh connection per probe (``force_close``) so that each round really connects.
    Redirects are followed on the same host only (at most 10; see :meth:`_get`); the status
    and certificate are those of the last response's host. The body is read and discarded so
    the duration covers the whole answer.

    Parameters
    ----------
    settings
        ``[agent.http]``: ``timeout`` (whole request), ``verify_tls``, ``ok_status``,
        ``user_agent``.
    context
        The agent's :class:`ProbeContext` (limiter, clock).
    """

    def __init__(self, settings: Any, context: ProbeContext) -> None:
        self._settings = settings
        self._context = context
        self._session: aiohttp.ClientSession | None = None
        self._last: dict[tuple[str, str], ProbeResult] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made lazily: a session needs a running loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, limit=0),
                headers={"User-Agent": self._settings.user_agent},
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def run(self, jobs: Sequence[ProbeJob]) -> dict[tuple[str, str], ProbeResult]:
        """Fetch every job's URL at once (bounded by the limiter); one result per job."""
        results = await asyncio.gather(*(self._one(job) for job in jobs))
        self._last = {job.key: r for job, r in zip(jobs, results, strict=True)}
        return dict(self._last)

    async def _one(self, job: ProbeJob) -> ProbeResult:
        session = self._client()
        low, high = self._settings.ok_status
        async with self._context.limiter:
            taken = self._context.clock()
            start = time.perf_counter()
            try:
                async with asyncio.timeout(self._settings.timeout):
                    resp, final = await self._get(session, job)
                duration = time.perf_counter() - start
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = _http_reason(exc)
                log.debug(
                    "http probe failed site=%s probe=%s reason=%s", job.site, job.probe, reason
                )
                duration = time.perf_counter() - start
                # A certificate that fails verification (expired, wrong name) still has a date
                # worth showing: the dashboard then says *when* it expired.
                expiry = await self._expiry(final_of(exc, job)) if reason == "tls" else None
                return ProbeResult(
                    False,
                    reason,
                    duration,
                    taken,
                    values={} if expiry is None else {"cert_expiry": expiry},
                    message=str(exc) or reason,
                )
            expiry = await self._expiry(final)  # its own deadline, outside the GET's
        values = {"http_status": float(resp.status)}
        if expiry is not None:
            values["cert_expiry"] = expiry
        ok = low <= resp.status <= high
        return ProbeResult(
            ok,
            "ok" if ok else "http_status",
            duration,
            taken,
            values=values,
            message="" if ok else f"status {resp.status} outside {low}-{high}",
        )

    async def _get(
        self, session: aiohttp.ClientSession, job: ProbeJob
    ) -> tuple[aiohttp.ClientResponse, str]:
        """GET the job's URL, following redirects itself; the last response and its URL.

        Redirects to another host (or port, or from https to http) are not followed unless
        the site is in ``[agent.http] cross_host_redirects``: the probe stays on the target the
        inventory names, and the redirect's own status is the result.
        """
        url = job.arg or ""
        origin = _origin(url)
        anywhere = job.site in getattr(self._settings, "cross_host_redirects", ())
        auth = self._auth(job.site)
        for _ in range(MAX_REDIRECTS + 1):
            async with session.get(
                url,
                ssl=bool(self._settings.verify_tls),
                allow_redirects=False,
                headers=auth if _origin(url) == origin else None,  # never to another host
            ) as resp:
                async for _ in resp.content.iter_chunked(_CHUNK):
                    pass
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp, url
            target = urljoin(url, location)
            if urlsplit(target).scheme not in ("http", "https"):
                return resp, url
            if _origin(target) != origin and not anywhere:
                log.debug(
                    "redirect to another host not followed site=%s probe=%s",
                    job.site,
                    job.probe,
                )
                return resp, url
            url = target
        raise aiohttp.TooManyRedirects(resp.request_info, resp.history)

    def _auth(self, site: str) -> dict[str, str] | None:
        """The site's basic auth (``[agent.http.credentials.SITE]``), password from the env."""
        credential = getattr(self._settings, "credentials", {}).get(site)
        if credential is None:
            return None
        password = os.environ.get(credential.password_env)
        if password is None:
            log.warning(
                "http probe password variable not set, probing without credentials "
                "site=%s variable=%s",
                site,
                credential.password_env,
            )
            return None
        return {"Authorization": basic_auth_header(credential.username, password)}

    async def _expiry(self, url: str) -> float | None:
        """notAfter of the certificate the URL's server presents, from its own TLS handshake.

        aiohttp has no public way to reach the peer certificate of a response (aio-libs/aiohttp
        issue 2816; the connection is often released before the caller sees the response), so
        this opens one more TLS connection to the URL's host and port and reads the certificate
        there. Verification is off on purpose: the GET already judged trust; this only reads the
        dates. The answer is the earliest notAfter of the whole chain the server sends (read by
        :mod:`pantau.agent.probes.tlschain`), or the leaf's when the server speaks TLS 1.3 only
        (Python 3.11 exposes the peer's own certificate, not the chain).
        """
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            return None
        try:
            async with asyncio.timeout(self._settings.timeout):
                chain = await server_chain(parts.hostname, parts.port or 443)
            dates = [d for d in map(cert_expiry, chain) if d is not None]
            if dates:
                return min(dates)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            log.debug("tls chain read failed, reading the leaf url=%s error=%s", url, exc)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        writer = None
        try:
            async with asyncio.timeout(self._settings.timeout):
                _, writer = await asyncio.open_connection(
                    parts.hostname, parts.port or 443, ssl=context
                )
                der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.debug("tls certificate read failed url=%s error=%s", url, exc)
            return None
        finally:
            if writer is not None:
                writer.close()
        return cert_expiry(der)

    def collect(self) -> Iterable[Metric]:
        """Last HTTP status and certificate expiry of every probe of the last round."""
        status = GaugeMetricFamily(
            "pantau_http_status_code", "Status of the last HTTP response", labels=["site", "probe"]
        )
        expiry = GaugeMetricFamily(
            "pantau_tls_cert_expiry_timestamp_seconds",
            "Unix time the server's TLS certificate expires (earliest notAfter)",
            labels=["site", "probe"],
        )
        for (site, probe), result in sorted(self._last.items()):
            if "http_status" in result.values:
                status.add_metric([site, probe], result.values["http_status"])
            if "cert_expiry" in result.values:
                expiry.add_metric([site, probe], result.values["cert_expiry"])
        return [status, expiry]

    async def aclose(self) -> None:
        """Close the HTTP session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def make_prober(settings: Any, context: ProbeContext) -> HttpProber:
    """Build the HTTP prober (registry entry point)."""
    return HttpProber(settings, context)
