"""TLS and basic authentication of pantau's HTTP servers, from an exporter-toolkit web config.

The file is the one node_exporter and Prometheus itself read (``--web.config.file``; see the
exporter-toolkit's docs/web-configuration.md)::

    tls_server_config:
      cert_file: agent.crt          # relative paths are relative to this file
      key_file: agent.key
      min_version: TLS12            # TLS10 .. TLS13, default TLS12
      client_auth_type: RequireAndVerifyClientCert   # optional mutual TLS
      client_ca_file: clients-ca.crt
    basic_auth_users:
      prometheus: $2b$10$...        # bcrypt hashes only

Unknown keys are refused, as the exporter-toolkit does, each with the file, the key and a fix.
:func:`load_web_config` reads and checks it once; :meth:`WebConfig.middleware` guards every route
of an aiohttp app and records the authenticated user in ``request[USER]``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import ipaddress
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from aiohttp import web

from pantau.errors import ConfigError

log = logging.getLogger(__name__)

#: Key of the authenticated user name in an aiohttp request (None without basic auth); a typed
#: request key where aiohttp has them (3.13 and later), its name before.
USER: Any = web.RequestKey("pantau.user") if hasattr(web, "RequestKey") else "pantau.user"
REALM = 'Basic realm="pantau", charset="UTF-8"'
_TOP = ("tls_server_config", "basic_auth_users")
_TLS = ("cert_file", "key_file", "min_version", "max_version", "client_auth_type", "client_ca_file")
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
#: client_auth_type values Python's ssl module can honour, and how.
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
#: Successful (user, password) checks remembered, so bcrypt runs once per credential.
_CACHE_MAX = 1024
HASH_HOWTO = (
    "make one with: python3 -c 'import bcrypt,getpass; "
    "print(bcrypt.hashpw(getpass.getpass().encode(), bcrypt.gensalt(10)).decode())' "
    "or htpasswd -nBC 10 USER"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True)
class WebConfig:
    """A checked web config: the TLS context (None: plain HTTP) and the users' bcrypt hashes."""

    path: Path
    ssl_context: ssl.SSLContext | None
    users: Mapping[str, bytes]

    def middleware(self) -> Any:
        """An aiohttp middleware answering 401 to requests without a valid user (if any)."""
        return auth_middleware(self.users)


def _fail(path: Path, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {message}")


def _unknown(path: Path, where: str, given: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in given:
        if key not in known:
            raise _fail(
                path,
                f"{where}{key}",
                f"unknown or unsupported key; pantau reads {', '.join(known)} here",
            )


def _file(path: Path, key: str, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise _fail(path, key, "needs a file path")
    found = Path(value) if Path(value).is_absolute() else path.parent / value
    if not found.is_file():
        raise _fail(path, key, f"file {found} not found; give the path of a PEM file")
    return found


def _tls_context(path: Path, tls: Mapping[str, Any]) -> ssl.SSLContext:
    _unknown(path, "tls_server_config.", tls, _TLS)
    where = "tls_server_config."
    if "cert_file" not in tls or "key_file" not in tls:
        raise _fail(path, where + "cert_file", "cert_file and key_file are both required for TLS")
    cert = _file(path, where + "cert_file", tls["cert_file"])
    key = _file(path, where + "key_file", tls["key_file"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for name, default in (("min_version", "TLS12"), ("max_version", None)):
        value = tls.get(name, default)
        if value is None:
            continue
        if value not in _VERSIONS:
            raise _fail(path, where + name, f"{value!r}: use one of {', '.join(_VERSIONS)}")
        setattr(context, name, _VERSIONS[value])
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise _fail(
            path,
            where + "key_file",
            f"cannot load {cert} with {key} ({exc}); is the key the "
            "certificate's, both PEM, and the key unencrypted?",
        ) from None
    auth = tls.get("client_auth_type", "NoClientCert")
    if auth not in _CLIENT_AUTH:
        raise _fail(
            path,
            where + "client_auth_type",
            f"{auth!r}: pantau supports {', '.join(_CLIENT_AUTH)} (client certificates are "
            "always verified against client_ca_file)",
        )
    context.verify_mode = _CLIENT_AUTH[auth]
    if auth != "NoClientCert":
        if "client_ca_file" not in tls:
            raise _fail(path, where + "client_ca_file", f"{auth} needs client_ca_file")
        ca = _file(path, where + "client_ca_file", tls["client_ca_file"])
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError as exc:
            raise _fail(path, where + "client_ca_file", f"not a PEM CA file ({exc})") from None
    return context


def _users(path: Path, users: Any) -> dict[str, bytes]:
    if not isinstance(users, dict):
        raise _fail(path, "basic_auth_users", "must map user names to bcrypt hashes")
    out = {}
    for name, hashed in users.items():
        key = f"basic_auth_users.{name}"
        if not isinstance(name, str) or not name or ":" in name:
            raise _fail(path, key, "a user name is a non-empty string without ':'")
        raw = str(hashed or "").encode()
        try:
            bcrypt.checkpw(b"", raw)
        except ValueError:
            raise _fail(path, key, f"not a bcrypt hash (never a password); {HASH_HOWTO}") from None
        out[name] = raw
    return out


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web config file.

    Raises
    ------
    ConfigError
        Naming the file, the key and the fix: unknown keys, missing or unreadable
        certificate files, a password where a bcrypt hash belongs.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: web config file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML web config: {exc}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a web config is a YAML mapping ({', '.join(_TOP)})")
    _unknown(path, "", data, _TOP)
    tls = data.get("tls_server_config")
    if tls is not None and not isinstance(tls, dict):
        raise _fail(path, "tls_server_config", "must be a mapping (cert_file, key_file, ...)")
    context = _tls_context(path, tls) if tls else None
    users = _users(path, data["basic_auth_users"]) if data.get("basic_auth_users") else {}
    return WebConfig(path, context, users)


def basic_auth_header(user: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP basic auth (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def auth_middleware(users: Mapping[str, bytes]) -> Any:
    """Basic authentication against bcrypt ``users``; every request passes when there are none.

    bcrypt runs in a thread (it takes tens of milliseconds on purpose) and a successful check
    is remembered by a SHA-256 of user, password and hash, as the exporter-toolkit does. An
    unknown user is checked against a dummy hash so that timing does not tell which names exist.
    """
    rounds = max((int(h[4:6]) for h in users.values() if h[4:6].isdigit()), default=4)
    dummy = bcrypt.hashpw(b"pantau", bcrypt.gensalt(max(4, min(rounds, 14))))
    good: set[bytes] = set()

    def check(user: str, password: str) -> bool:
        hashed = users.get(user, dummy)
        key = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed))).digest()
        if key in good:
            return True
        ok = bcrypt.checkpw(password.encode(), hashed) and user in users
        if ok:
            if len(good) >= _CACHE_MAX:
                good.clear()
            good.add(key)
        return ok

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[USER] = None
        if not users:
            return await handler(request)
        given = _credentials(request.headers.get("Authorization", ""))
        if given is None or not await asyncio.to_thread(check, *given):
            log.info(
                "request refused: no valid credentials remote=%s path=%s",
                request.remote,
                request.path,
            )
            return web.json_response(
                {"error": "authentication required (basic auth; see docs/operations.md)"},
                status=401,
                headers={"WWW-Authenticate": REALM},
            )
        request[USER] = given[0]
        return await handler(request)

    return middleware


def is_loopback(listen: str) -> bool:
    """Whether ``HOST:PORT`` listens on loopback only (names other than localhost are not)."""
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(listen: str, web_config: WebConfig | None, what: str) -> None:
    """Log a warning when ``listen`` is reachable from the network without TLS and users."""
    if is_loopback(listen):
        return
    if web_config is None:
        log.warning(
            "listening beyond loopback without a web config: anyone who reaches this port reads "
            "the network map; set web_config (TLS and basic auth) listen=%s server=%s",
            listen,
            what,
        )
    elif web_config.ssl_context is None or not web_config.users:
        log.warning(
            "listening beyond loopback with a web config lacking %s listen=%s server=%s",
            "tls_server_config" if web_config.ssl_context is None else "basic_auth_users",
            listen,
            what,
        )
