"""How the collector reaches its agents: TLS trust and basic-auth credentials from the config,
and one bounded read of an agent's event API (docs/contracts.md)."""

from __future__ import annotations

import email.utils
import ssl

import aiohttp

from pantau.collector.pagecheck import BadPage
from pantau.config import CollectorConfig
from pantau.errors import ConfigError
from pantau.webconfig import basic_auth_header

#: Said with every refused agent certificate: what to do about it.
CERT_FIX = (
    "the agent's certificate is not trusted (self-signed, expired, not yet valid or for another "
    "name); give the CA that signed it in [collector] agent_ca_file, or renew the agent's "
    "certificate for the host name in [collector] agents"
)


def agent_ssl_context(config: CollectorConfig) -> ssl.SSLContext:
    """Verification of agents' certificates: ``agent_ca_file`` when set, else the system CAs.

    Raises
    ------
    ConfigError
        When the CA file cannot be read as PEM certificates.
    """
    context = ssl.create_default_context()
    if config.agent_ca_file is not None:
        try:
            context.load_verify_locations(cafile=config.agent_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"collector.agent_ca_file: cannot read {config.agent_ca_file} as PEM CA "
                f"certificates ({exc})"
            ) from None
    return context


def agent_session(config: CollectorConfig) -> aiohttp.ClientSession:
    """The HTTP session pulling agents: verified TLS, and basic auth when configured."""
    password = config.agent_password()
    headers = {}
    if password is not None:
        # aiohttp drops it on a redirect to another origin
        headers["Authorization"] = basic_auth_header(config.agent_username or "", password)
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=config.agent_timeout),
        connector=aiohttp.TCPConnector(ssl=agent_ssl_context(config)),
        headers=headers,
    )


def failure_detail(exc: BaseException) -> str:
    """Why a pull failed, for logs and /healthz, with the fix when a certificate was refused."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"{detail}; {CERT_FIX}"
    return detail


async def fetch_events(
    session: aiohttp.ClientSession,
    source: str,
    after: int,
    limit: int,
    *,
    timeout: aiohttp.ClientTimeout | None,
    max_bytes: int,
) -> tuple[bytes, float | None]:
    """``GET source/api/v1/events?after=&limit=``: the body and the answer's Date (Unix seconds).

    ``timeout`` None is the session's own.

    Raises
    ------
    aiohttp.ClientError, TimeoutError, OSError
        When the agent cannot be reached or answers other than 200.
    BadPage
        ``too_large``: the answer is longer than ``max_bytes`` (read no further).
    """
    url = f"{source}/api/v1/events"
    params = {"after": after, "limit": limit}
    async with session.get(url, params=params, timeout=timeout or session.timeout) as resp:
        if resp.status != 200:
            head = await resp.content.read(200)
            raise aiohttp.ClientResponseError(
                resp.request_info,
                (),
                status=resp.status,
                message=head.decode(errors="replace"),
            )
        too_big = BadPage("too_large", f"answer larger than {max_bytes} bytes")
        if (resp.content_length or 0) > max_bytes:
            raise too_big
        body = bytearray()
        async for chunk in resp.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > max_bytes:
                raise too_big
        return bytes(body), _date(resp.headers.get("Date"))


def _date(header: str | None) -> float | None:
    """An HTTP Date header as Unix seconds, at the middle of its second; None if unusable."""
    if not header:
        return None
    try:
        return email.utils.parsedate_to_datetime(header).timestamp() + 0.5
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
