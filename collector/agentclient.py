"""How the collector reaches its agents: TLS trust and basic-auth credentials from the config."""

from __future__ import annotations

import ssl

import aiohttp

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
